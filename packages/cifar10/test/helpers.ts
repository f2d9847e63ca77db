// Builders for small CIFAR-format files, tar archives, pickles and HTTP servers used by tests.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { CIFAR10_CLASS_NAMES } from "../src/constants.js";

export const RECORDS = 4;
export const BIN_NAMES = [
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
  "test_batch.bin",
];

export async function tempDir(prefix = "cifar10-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Deterministic pixel value of channel c at (y, x) of global image i. */
export function pixel(i: number, y: number, x: number, c: number): number {
  return (i * 31 + y * 7 + x * 3 + c * 101) & 0xff;
}

/** Label of global image i (train images 0…19, test images 20…23). */
export function labelOf(i: number): number {
  return (i * 3) % 10;
}

/** A record in CIFAR's planar format: label byte, then R, G, B planes. */
export function record(i: number, label = labelOf(i)): Uint8Array {
  const r = new Uint8Array(3073);
  r[0] = label;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) r[1 + c * 1024 + y * 32 + x] = pixel(i, y, x, c);
  return r;
}

/** Bytes of batch file `b` (0–4 train, 5 test) with RECORDS records. */
export function binBatch(b: number, records = RECORDS): Uint8Array {
  const out = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) out.set(record(b * records + r), r * 3073);
  return out;
}

/** Writes a `cifar-10-batches-bin/` folder under `parent`; `edit` may change files first. */
export async function writeBinFolder(
  parent: string,
  edit: (files: Map<string, Uint8Array>) => void = () => {},
): Promise<string> {
  const dir = join(parent, "cifar-10-batches-bin");
  await mkdir(dir, { recursive: true });
  const files = new Map<string, Uint8Array>();
  BIN_NAMES.forEach((n, b) => {
    files.set(n, binBatch(b));
  });
  files.set("batches.meta.txt", new TextEncoder().encode(`${CIFAR10_CLASS_NAMES.join("\n")}\n\n`));
  edit(files);
  for (const [n, bytes] of files) await writeFile(join(dir, n), bytes);
  return dir;
}

/** Expected NHWC image i as the loader should return it. */
export function expectedImage(i: number): Uint8Array {
  const out = new Uint8Array(3072);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++)
      for (let c = 0; c < 3; c++) out[(y * 32 + x) * 3 + c] = pixel(i, y, x, c);
  return out;
}

// --- tar --------------------------------------------------------------------------------

export interface TarEntry {
  name: string;
  data?: Uint8Array;
  /** "0" file, "5" directory, "2" symlink, "1" hard link. */
  type?: "0" | "1" | "2" | "5";
  linkname?: string;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

/** A ustar archive written by hand, so tests can build entries no sane tool would. */
export function tar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array();
    const h = new Uint8Array(512);
    const put = (s: string, off: number) => h.set(new TextEncoder().encode(s), off);
    put(e.name, 0);
    put(octal(e.type === "5" ? 0o755 : 0o644, 8), 100);
    put(octal(0, 8), 108);
    put(octal(0, 8), 116);
    put(octal(e.type === "0" || e.type === undefined ? data.length : 0, 12), 124);
    put(octal(1230768000, 12), 136);
    put("        ", 148);
    put(e.type ?? "0", 156);
    if (e.linkname) put(e.linkname, 157);
    put("ustar\0", 257);
    put("00", 263);
    let sum = 0;
    for (const b of h) sum += b;
    put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(h);
    if (e.type === "0" || e.type === undefined) {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const total = blocks.reduce((s, b) => s + b.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

export function tarGz(entries: TarEntry[]): Uint8Array {
  // A plain Uint8Array copy: a Buffer's slice() is a view, which tests that corrupt a copy trip over.
  return new Uint8Array(gzipSync(tar(entries)));
}

/** The small dataset as a `.tar.gz`, laid out like the official archive. */
export function datasetArchive(edit: (entries: TarEntry[]) => void = () => {}): Uint8Array {
  const entries: TarEntry[] = [
    { name: "cifar-10-batches-bin/", type: "5" },
    {
      name: "cifar-10-batches-bin/batches.meta.txt",
      data: new TextEncoder().encode(`${CIFAR10_CLASS_NAMES.join("\n")}\n`),
    },
    ...BIN_NAMES.map((n, b) => ({ name: `cifar-10-batches-bin/${n}`, data: binBatch(b) })),
  ];
  edit(entries);
  return tarGz(entries);
}

// --- pickles -------------------------------------------------------------------------------

/** Writes pickle opcodes the way Python 2's cPickle wrote the official `cifar-10-batches-py`. */
class Py2Pickler {
  private parts: number[] = [];
  private memo = 1;
  op(...bytes: number[]) {
    this.parts.push(...bytes);
    return this;
  }
  put() {
    return this.op(0x71, this.memo++ & 0xff);
  }
  str(s: string | Uint8Array) {
    const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
    if (b.length < 256) this.op(0x55, b.length);
    else
      this.op(
        0x54,
        b.length & 0xff,
        (b.length >> 8) & 0xff,
        (b.length >> 16) & 0xff,
        b.length >>> 24,
      );
    for (const x of b) this.parts.push(x);
    return this.put();
  }
  int(n: number) {
    if (n < 256) return this.op(0x4b, n);
    if (n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    return this.op(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
  }
  global(mod: string, name: string) {
    this.op(0x63);
    for (const x of new TextEncoder().encode(`${mod}\n${name}\n`)) this.parts.push(x);
    return this.put();
  }
  bytes() {
    return Uint8Array.from(this.parts);
  }
}

/** A pickled batch: `{data: uint8 ndarray N×3072, labels: [...], batch_label, filenames}`. */
export function py2Batch(
  data: Uint8Array,
  labels: number[],
  opts: { dtype?: string } = {},
): Uint8Array {
  const p = new Py2Pickler();
  const n = labels.length;
  p.op(0x80, 2, 0x7d).put().op(0x28);
  p.str("data");
  p.global("numpy.core.multiarray", "_reconstruct");
  p.global("numpy", "ndarray");
  p.int(0).op(0x85).str("b").op(0x87, 0x52).put();
  p.op(0x28)
    .int(1)
    .int(data.length / 3072)
    .int(3072)
    .op(0x86);
  p.global("numpy", "dtype");
  p.str(opts.dtype ?? "u1")
    .int(0)
    .int(1)
    .op(0x87, 0x52)
    .put();
  p.op(0x28).int(3).str("|").op(0x4e, 0x4e, 0x4e).op(0x4a, 0xff, 0xff, 0xff, 0xff);
  p.op(0x4a, 0xff, 0xff, 0xff, 0xff).int(0).op(0x74, 0x62);
  p.op(0x89).str(data).op(0x74, 0x62);
  p.str("labels").op(0x5d).put().op(0x28);
  for (const l of labels) p.int(l);
  p.op(0x65);
  p.str("batch_label").str("training batch 1 of 5");
  p.str("filenames").op(0x5d).put().op(0x28);
  for (let i = 0; i < n; i++) p.str(`image_${i}.png`);
  p.op(0x65, 0x75, 0x2e);
  return p.bytes();
}

export function py2Meta(names: readonly string[] = CIFAR10_CLASS_NAMES): Uint8Array {
  const p = new Py2Pickler();
  p.op(0x80, 2, 0x7d).put().op(0x28);
  p.str("num_cases_per_batch").int(RECORDS);
  p.str("label_names").op(0x5d).put().op(0x28);
  for (const n of names) p.str(n);
  p.op(0x65);
  p.str("num_vis").int(3072);
  p.op(0x75, 0x2e);
  return p.bytes();
}

/** Writes a `cifar-10-batches-py/` folder with the same images as {@link writeBinFolder}. */
export async function writePyFolder(parent: string): Promise<string> {
  const dir = join(parent, "cifar-10-batches-py");
  await mkdir(dir, { recursive: true });
  const names = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
  ];
  for (const [b, name] of names.entries()) {
    const data = new Uint8Array(RECORDS * 3072);
    const labels: number[] = [];
    for (let r = 0; r < RECORDS; r++) {
      const rec = record(b * RECORDS + r);
      data.set(rec.subarray(1), r * 3072);
      labels.push(rec[0]!);
    }
    await writeFile(join(dir, name), py2Batch(data, labels));
  }
  await writeFile(join(dir, "batches.meta"), py2Meta());
  return dir;
}

// --- HTTP ----------------------------------------------------------------------------------

export interface ServeOptions {
  /** Close the connection after this many body bytes (while announcing the full length). */
  cutAfter?: number;
  /** How many requests get cut; later ones are served fully. Defaults to all of them. */
  cutTimes?: number;
  /** Answer Range requests with 206. Defaults to true. */
  ranges?: boolean;
  /** Send this many body bytes, then go silent (never end) on the first request. */
  stallAfter?: number;
  /** Reply with this status and no body. */
  status?: number;
}

export interface TestServer {
  url: string;
  requests: { range: string | undefined }[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 serving `body` at `/cifar-10-binary.tar.gz`. */
export async function serve(body: Uint8Array, options: ServeOptions = {}): Promise<TestServer> {
  const requests: { range: string | undefined }[] = [];
  let cuts = 0;
  const server: Server = createServer((req, res) => {
    requests.push({ range: req.headers.range });
    if (options.status) {
      res.writeHead(options.status).end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (m && options.ranges !== false) start = Number(m[1]);
    const slice = body.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      "content-length": String(slice.length),
      "content-type": "application/gzip",
      ...(start > 0 ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (options.stallAfter !== undefined && requests.length === 1) {
      res.write(slice.subarray(0, options.stallAfter));
      return;
    }
    const cut = options.cutAfter !== undefined && cuts < (options.cutTimes ?? Infinity);
    if (cut) {
      cuts++;
      // Destroy a little later, as a real broken link would, so the bytes sent arrive first.
      res.write(slice.subarray(0, options.cutAfter), () => setTimeout(() => res.destroy(), 30));
    } else {
      res.end(slice);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}/cifar-10-binary.tar.gz`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
