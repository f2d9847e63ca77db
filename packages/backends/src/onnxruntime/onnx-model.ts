// A minimal ONNX model writer: just enough protobuf to describe the small float32 graphs the
// onnxruntime kernels run (a convolution between layout transposes, one GEMM per filter tap).
// ONNX models are protobuf messages (onnx/onnx.proto); the field numbers below are that file's.
// Writing the ~10 fields by hand keeps this package free of a protobuf runtime.

/**
 * An integer attribute, a list of them (`perm`, `pads`, `strides`, …), a string, or a float
 * (`{ float: 0.5 }`: a plain number is an integer).
 */
export type OnnxAttribute = number | readonly number[] | string | { readonly float: number };

export interface OnnxNode {
  readonly op: string;
  /** The operator set's domain; `""` (ONNX's own) by default, e.g. `"com.microsoft.nchwc"`. */
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxValue {
  readonly name: string;
  /** Omitted: the shape is left for ONNX Runtime to infer (an output only). */
  readonly shape?: readonly number[];
}

export interface OnnxGraph {
  readonly nodes: readonly OnnxNode[];
  /** float32 graph inputs. */
  readonly inputs: readonly OnnxValue[];
  /** float32 graph outputs. */
  readonly outputs: readonly OnnxValue[];
  /** int64 constants (Pad's pads, Slice's starts/ends, Reshape's shapes), by name. */
  readonly int64Constants?: Readonly<Record<string, readonly number[]>>;
  /** float32 constants, by name: a number is a scalar, an array a vector of its length. */
  readonly floatConstants?: Readonly<Record<string, number | readonly number[]>>;
}

/** The opset the graphs are written against (ORT 1.14+ runs it). */
export const ONNX_OPSET = 17;

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const FLOAT = 1; // TensorProto.DataType
const INT64 = 7;
const ATTR_FLOAT = 1; // AttributeProto.AttributeType
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

/** Appends protobuf fields to a growing byte list. */
class Writer {
  private readonly bytes: number[] = [];

  private varint(value: number | bigint): void {
    // int64 fields: negatives are written as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    this.key(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.key(field, WIRE_FIXED32);
    for (const b of new Uint8Array(Float32Array.of(value).buffer)) this.bytes.push(b);
    return this;
  }

  /** A repeated int64 field, packed. */
  ints(field: number, values: readonly number[]): this {
    const packed = new Writer();
    for (const v of values) packed.varint(v);
    return this.raw(field, packed.finish());
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.raw(field, inner.finish());
  }

  raw(field: number, data: Uint8Array): this {
    this.key(field, WIRE_BYTES);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function valueInfo(w: Writer, v: OnnxValue): void {
  w.string(1, v.name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type -> TypeProto.Tensor{ elem_type, shape{ dim{ dim_value } } }
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      const dims = v.shape;
      if (dims) {
        tensor.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => dim.int(1, d));
        });
      }
    }),
  );
}

function node(w: Writer, n: OnnxNode, index: number): void {
  for (const input of n.inputs) w.string(1, input); // NodeProto.input
  for (const output of n.outputs) w.string(2, output); // NodeProto.output
  w.string(3, `${n.op}_${index}`); // NodeProto.name
  w.string(4, n.op); // NodeProto.op_type
  for (const [name, value] of Object.entries(n.attributes ?? {})) {
    w.message(5, (attr) => {
      attr.string(1, name); // AttributeProto.name
      if (typeof value === "number") {
        attr.int(3, value).int(20, ATTR_INT); // i, type
      } else if (typeof value === "string") {
        attr.string(4, value).int(20, ATTR_STRING); // s, type
      } else if ("float" in value) {
        attr.float(2, value.float).int(20, ATTR_FLOAT); // f, type
      } else {
        attr.ints(8, value).int(20, ATTR_INTS); // ints, type
      }
    });
  }
  if (n.domain) w.string(7, n.domain); // NodeProto.domain
}

/** The serialised `ModelProto` of `graph`, ready for an ONNX Runtime session. */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ModelProto.ir_version
  w.string(2, "@cnnkit/backends"); // producer_name
  w.message(7, (g) => {
    graph.nodes.forEach((n, i) => {
      g.message(1, (m) => node(m, n, i)); // GraphProto.node
    });
    g.string(2, "cnnkit_kernel"); // GraphProto.name
    for (const [name, values] of Object.entries(graph.int64Constants ?? {})) {
      g.message(5, (t) => {
        // GraphProto.initializer: TensorProto{ dims, data_type, int64_data, name }
        t.ints(1, [values.length]);
        t.int(2, INT64);
        t.ints(7, values);
        t.string(8, name);
      });
    }
    for (const [name, value] of Object.entries(graph.floatConstants ?? {})) {
      g.message(5, (t) => {
        // TensorProto{ dims (none: a scalar), data_type, raw_data (little-endian float32), name }
        const values = typeof value === "number" ? [value] : value;
        if (typeof value !== "number") t.ints(1, [values.length]);
        t.int(2, FLOAT);
        t.string(8, name);
        const raw = new Uint8Array(Float32Array.from(values).buffer);
        t.raw(9, raw);
      });
    }
    for (const v of graph.inputs) g.message(11, (m) => valueInfo(m, v));
    for (const v of graph.outputs) g.message(12, (m) => valueInfo(m, v));
  });
  w.message(8, (op) => op.string(1, "").int(2, ONNX_OPSET)); // opset_import{ domain, version }
  // ONNX Runtime's own operator sets (com.microsoft.*) are all at version 1.
  for (const domain of new Set(graph.nodes.map((n) => n.domain ?? ""))) {
    if (domain !== "") w.message(8, (op) => op.string(1, domain).int(2, 1));
  }
  return w.finish();
}
