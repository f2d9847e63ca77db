// A small, strict reader and writer for the safetensors format (what PyTorch's
// `safetensors.torch.save_file` writes): an 8-byte little-endian header length, a JSON header
// `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`, raw data.
import { ResNetError } from "./errors.js";

/** The element types safetensors names, with their size in bytes. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** One tensor of a safetensors file: its dtype as the file names it, its shape and raw bytes. */
export interface SafetensorsTensor {
  /** The safetensors dtype, e.g. `"F32"`, `"F16"`, `"I64"`. */
  readonly dtype: string;
  /** The shape in PyTorch's order (NCHW for conv kernels: `[out, in, kh, kw]`). */
  readonly shape: readonly number[];
  /** The little-endian element bytes (a view into the file's bytes, not a copy). */
  readonly data: Uint8Array;
}

/** A parsed safetensors file: tensors by name, plus the optional string metadata. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Options of {@link parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /** The file name used in error messages. Defaults to `"safetensors"`. */
  source?: string;
}

// The reference implementation refuses headers over 100 MB; a larger value means a corrupt
// or non-safetensors file, and reading it as JSON would only waste memory.
const MAX_HEADER_BYTES = 100_000_000;

function fail(source: string, message: string): never {
  throw new ResNetError("invalid_safetensors", `${source}: ${message}`);
}

/**
 * Parses safetensors bytes, checking every offset and size against the dtype and shape, so a
 * truncated or hand-edited file fails here with its name rather than later as garbage weights.
 */
export function parseSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options: ParseSafetensorsOptions = {},
): SafetensorsFile {
  const source = options.source ?? "safetensors";
  // A plain Uint8Array view, also for a Node Buffer, whose slice() would not copy.
  const buf =
    bytes instanceof Uint8Array
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
  if (buf.byteLength < 8) {
    fail(source, `expected at least 8 bytes (the header length), got ${buf.byteLength}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > buf.byteLength) {
    fail(
      source,
      `header length ${headerLength} does not fit in a ${buf.byteLength}-byte file (truncated, or not safetensors?)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + headerLength)),
    );
  } catch (cause) {
    throw new ResNetError("invalid_safetensors", `${source}: the header is not valid UTF-8 JSON`, {
      cause,
    });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(source, "expected the header to be a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = buf.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(source, entry);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== "string" || DTYPE_BYTES[dtype] === undefined) {
      fail(source, `tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(source, `tensor "${name}": expected shape to be an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1] ||
      offsets[1] > dataLength
    ) {
      fail(
        source,
        `tensor "${name}": data_offsets ${JSON.stringify(offsets)} outside the ${dataLength} data bytes (truncated file?)`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const expected = shape.reduce((a: number, d: number) => a * d, 1) * DTYPE_BYTES[dtype]!;
    if (end - begin !== expected) {
      fail(
        source,
        `tensor "${name}": expected ${expected} bytes for ${dtype}[${shape.join(", ")}], got ${end - begin}`,
      );
    }
    spans.push([begin, end, name]);
    tensors.set(name, {
      dtype,
      shape: shape as number[],
      data: buf.subarray(dataStart + begin, dataStart + end),
    });
  }
  // The format forbids overlapping tensors; overlaps mean a corrupt or malicious header.
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur[0] < prev[1]) fail(source, `tensors "${prev[2]}" and "${cur[2]}" overlap`);
  }
  return { tensors, metadata };
}

function parseMetadata(source: string, entry: unknown): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    fail(source, "expected __metadata__ to be an object of strings");
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") fail(source, `__metadata__.${key}: expected a string`);
  }
  return entry as Record<string, string>;
}

/** Copies an F32 tensor's bytes into a fresh, aligned `Float32Array`. */
export function safetensorsToFloat32(tensor: SafetensorsTensor, name: string): Float32Array {
  if (tensor.dtype !== "F32") {
    throw new ResNetError(
      "dtype_mismatch",
      `tensor "${name}": expected dtype F32, got ${tensor.dtype} (convert with .float() in PyTorch before saving)`,
    );
  }
  const out = new Float32Array(tensor.data.byteLength / 4);
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** A tensor to write: float32 data (as `F32`) or int32 data (as `I32`), with its shape. */
export interface SafetensorsInput {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/**
 * Encodes tensors as safetensors bytes (F32 / I32, header padded to 8 bytes like the reference
 * writer), e.g. to hand weights back to PyTorch's `safetensors.torch.load_file`.
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsInput>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size !== t.data.length) {
      throw new ResNetError(
        "shape_mismatch",
        `tensor "${name}": shape [${t.shape.join(", ")}] holds ${size} elements, got ${t.data.length}`,
      );
    }
    const dtype = t.data instanceof Float32Array ? "F32" : "I32";
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (new TextEncoder().encode(json).byteLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const [, t] of entries) {
    const dv = new DataView(out.buffer, at, t.data.byteLength);
    for (let i = 0; i < t.data.length; i++) {
      if (t.data instanceof Float32Array) dv.setFloat32(i * 4, t.data[i]!, true);
      else dv.setInt32(i * 4, t.data[i]!, true);
    }
    at += t.data.byteLength;
  }
  return out;
}
