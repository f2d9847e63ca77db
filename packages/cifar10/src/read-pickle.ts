// A strict reader for the pickled batches of `cifar-10-batches-py/`. It interprets only the
// opcodes those files use, builds plain data, and calls nothing: the only "globals" it accepts
// are numpy's array and dtype reconstructors, which it turns into inert descriptions.
import { Cifar10Error } from "./errors.js";

/** A numpy array as the pickle describes it. */
export interface PickledArray {
  readonly kind: "ndarray";
  shape: number[];
  dtype: string;
  fortranOrder: boolean;
  data: Uint8Array;
}

interface PickledDtype {
  readonly kind: "dtype";
  name: string;
  byteOrder: string;
}

interface PickledGlobal {
  readonly kind: "global";
  readonly name: "_reconstruct" | "ndarray" | "dtype";
}

const MARK = Symbol("mark");
type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | Map<string, Value>
  | PickledArray
  | PickledDtype
  | PickledGlobal
  | { readonly kind: "tuple"; items: Value[] };
type Slot = Value | typeof MARK;

const ALLOWED_GLOBALS: Record<string, PickledGlobal["name"]> = {
  "numpy.core.multiarray._reconstruct": "_reconstruct",
  "numpy._core.multiarray._reconstruct": "_reconstruct",
  "numpy.ndarray": "ndarray",
  "numpy.dtype": "dtype",
};

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

function isTuple(v: unknown): v is { kind: "tuple"; items: Value[] } {
  return typeof v === "object" && v !== null && (v as { kind?: string }).kind === "tuple";
}

/**
 * Parses a pickle (protocols 2–4) made only of dicts, lists, tuples, ints, strings, bytes,
 * `None`/bools and numpy uint8 arrays. Anything else throws, naming `file` and the byte offset.
 */
export function readPickle(bytes: Uint8Array, file: string): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, Value>();
  let pos = 0;
  const fail = (what: string): never => {
    throw new Cifar10Error("bad_pickle", `${file}: ${what} at byte ${pos} (not a CIFAR-10 batch?)`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`expected ${n} more bytes, file ends`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail("length too large");
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("unterminated line");
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail("stack underflow");
    return v as Value;
  };
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail("no MARK on the stack");
    const items = stack.splice(i) as Value[];
    items.shift();
    return items;
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail("stack underflow");
    return v as Value;
  };
  const key = (k: Value): string => {
    if (typeof k === "string") return k;
    if (k instanceof Uint8Array) return latin1.decode(k);
    return fail("dict key is not a string");
  };
  const global = (name: string): PickledGlobal => {
    const g = ALLOWED_GLOBALS[name];
    if (!g) fail(`refused global ${JSON.stringify(name)} (only numpy arrays are accepted)`);
    return { kind: "global", name: g as PickledGlobal["name"] };
  };
  const str = (raw: Uint8Array) => {
    try {
      return utf8.decode(raw);
    } catch {
      return fail("invalid UTF-8 string");
    }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 4) fail("unsupported pickle protocol (expected 2–4)");
        break;
      case 0x95: // FRAME: a length prefix only, the content follows inline
        u64();
        break;
      case 0x2e: {
        // STOP
        const result = pop();
        if (stack.length !== 0) fail("extra items left on the stack");
        return result;
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push({ kind: "tuple", items: [] });
        break;
      case 0x74: // TUPLE
        stack.push({ kind: "tuple", items: popMark() });
        break;
      case 0x85: // TUPLE1
        stack.push({ kind: "tuple", items: [pop()] });
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push({ kind: "tuple", items: [pop(), b] });
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push({ kind: "tuple", items: [pop(), b, c] });
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str: bytes, latin-1 when read as text)
        stack.push(take(u8()));
        break;
      case 0x54: // BINSTRING
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(take(u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(take(u32())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(take(u64())));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo ${i} read before it was written`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL
        const mod = line();
        stack.push(global(`${mod}.${line()}`));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof mod !== "string" || typeof name !== "string") fail("bad STACK_GLOBAL");
        stack.push(global(`${mod as string}.${name as string}`));
        break;
      }
      case 0x52: {
        // REDUCE: only numpy's reconstructors, turned into descriptions (nothing is called)
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args, fail));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        build(top(), state, fail);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof Map)) fail("SETITEM on a non-dict");
        (d as Map<string, Value>).set(key(k), v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof Map) || items.length % 2 !== 0) fail("bad SETITEMS");
        for (let i = 0; i < items.length; i += 2) {
          (d as Map<string, Value>).set(key(items[i]!), items[i + 1]!);
        }
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail("APPEND on a non-list");
        (l as Value[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail("APPENDS on a non-list");
        for (const v of items) (l as Value[]).push(v);
        break;
      }
      default:
        pos--;
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }
}

function reduce(fn: Value, args: Value, fail: (what: string) => never): Value {
  if (typeof fn !== "object" || fn === null || (fn as PickledGlobal).kind !== "global") {
    return fail("REDUCE of something that is not an accepted global");
  }
  if (!isTuple(args)) return fail("REDUCE arguments are not a tuple");
  const name = (fn as PickledGlobal).name;
  if (name === "_reconstruct") {
    const [cls] = args.items;
    if (!(typeof cls === "object" && cls !== null && (cls as PickledGlobal).name === "ndarray")) {
      return fail("_reconstruct of something other than numpy.ndarray");
    }
    return { kind: "ndarray", shape: [], dtype: "", fortranOrder: false, data: new Uint8Array() };
  }
  if (name === "dtype") {
    const [dtypeName] = args.items;
    const n = dtypeName instanceof Uint8Array ? latin1.decode(dtypeName) : dtypeName;
    if (typeof n !== "string") return fail("numpy.dtype of a non-string");
    return { kind: "dtype", name: n, byteOrder: "|" };
  }
  return fail(`REDUCE of ${name}`);
}

function build(target: Value, state: Value, fail: (what: string) => never): void {
  if (typeof target !== "object" || target === null || !("kind" in target)) {
    fail("BUILD on a plain value");
    return;
  }
  if (!isTuple(state)) {
    fail("BUILD state is not a tuple");
    return;
  }
  const items = state.items;
  if (target.kind === "dtype") {
    const order = items[1];
    (target as PickledDtype).byteOrder =
      typeof order === "string" ? order : order instanceof Uint8Array ? latin1.decode(order) : "?";
    return;
  }
  if (target.kind === "ndarray") {
    // (version, shape, dtype, is_fortran, raw bytes)
    const [, shape, dtype, fortran, raw] = items;
    if (!isTuple(shape) || !shape.items.every((d) => typeof d === "number")) {
      fail("ndarray shape is not a tuple of ints");
      return;
    }
    if (typeof dtype !== "object" || dtype === null || (dtype as PickledDtype).kind !== "dtype") {
      fail("ndarray dtype missing");
      return;
    }
    if (!(raw instanceof Uint8Array)) {
      fail("ndarray data is not raw bytes (pickled by Python 3 with protocol 2?)");
      return;
    }
    const arr = target as PickledArray;
    arr.shape = shape.items as number[];
    arr.dtype = (dtype as PickledDtype).name;
    arr.fortranOrder = fortran === true || fortran === 1;
    arr.data = raw;
    return;
  }
  fail(`BUILD on ${target.kind}`);
}

export type PickleValue = Value;
