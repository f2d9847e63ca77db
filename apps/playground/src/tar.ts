// A small streaming tar reader for the page: the CIFAR-10 archive is 180 MB once gunzipped, so
// entries are copied out of the stream as it arrives, and only the ones asked for are kept.
// Reads ustar and GNU tar (prefix field, GNU long names, pax `path` records).

const BLOCK = 512;

/** Why a tar stream could not be read. */
export class TarError extends Error {
  override readonly name = "TarError";
}

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

function octal(block: Uint8Array, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256 for sizes of 8 GiB and more: not in any CIFAR archive, but read it right.
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const digits = text(block, start, length).trim();
  if (!/^[0-7]*$/.test(digits)) {
    throw new TarError(
      `tar header of "${what}": expected an octal number, got ${JSON.stringify(digits)} (not a tar archive, or a damaged one?)`,
    );
  }
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

/** The `path` of a pax extended header record block (`"<len> path=<name>\n"` lines). */
function paxPath(bytes: Uint8Array): string | undefined {
  const records = new TextDecoder().decode(bytes);
  for (const line of records.split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/** One entry header: its name, type and size. */
interface Header {
  name: string;
  type: string;
  size: number;
}

function parseHeader(block: Uint8Array): Header | null {
  if (block.every((b) => b === 0)) return null;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  const name = text(block, 0, 100);
  if (octal(block, 148, 8, name) !== sum) {
    throw new TarError(
      `tar header of "${name}": checksum mismatch (not a tar archive, or a damaged one?)`,
    );
  }
  const prefix = text(block, 257, 6).startsWith("ustar") ? text(block, 345, 155) : "";
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: String.fromCharCode(block[156]!) || "0",
    size: octal(block, 124, 12, name),
  };
}

/**
 * Reads a tar stream and returns the regular files for which `wanted(path)` is true, by path.
 * Entries not wanted are skipped without being kept. Throws a `TarError` on a damaged header
 * or a stream that ends inside an entry.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  wanted: (path: string) => boolean,
): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const header = new Uint8Array(BLOCK);
  let headerFill = 0;
  // The entry being read: its bytes (when kept), how many remain, the padding after it.
  let entry: { header: Header; data: Uint8Array | null; filled: number } | null = null;
  let padding = 0;
  let longName: string | undefined;
  let ended = false;

  const finishEntry = (current: NonNullable<typeof entry>) => {
    const { header: h, data } = current;
    if (h.type === "L" && data) longName = text(data, 0, data.length);
    else if (h.type === "x" && data) longName = paxPath(data) ?? longName;
    else if (data) files.set(h.name, data);
  };

  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let at = 0;
    while (at < value.length && !ended) {
      if (padding > 0) {
        const skip = Math.min(padding, value.length - at);
        padding -= skip;
        at += skip;
        continue;
      }
      if (entry) {
        const take = Math.min(entry.header.size - entry.filled, value.length - at);
        entry.data?.set(value.subarray(at, at + take), entry.filled);
        entry.filled += take;
        at += take;
        if (entry.filled === entry.header.size) {
          finishEntry(entry);
          padding = (BLOCK - (entry.header.size % BLOCK)) % BLOCK;
          entry = null;
        }
        continue;
      }
      const take = Math.min(BLOCK - headerFill, value.length - at);
      header.set(value.subarray(at, at + take), headerFill);
      headerFill += take;
      at += take;
      if (headerFill < BLOCK) continue;
      headerFill = 0;
      const parsed = parseHeader(header);
      if (!parsed) {
        // The first of the two zero blocks that end an archive: the rest is padding.
        ended = true;
        break;
      }
      if (longName !== undefined && parsed.type !== "L" && parsed.type !== "x") {
        parsed.name = longName;
        longName = undefined;
      }
      const meta = parsed.type === "L" || parsed.type === "x";
      const regular = parsed.type === "0" || parsed.type === "\0";
      const keep = meta || (regular && wanted(parsed.name));
      entry = { header: parsed, data: keep ? new Uint8Array(parsed.size) : null, filled: 0 };
      if (parsed.size === 0) {
        finishEntry(entry);
        entry = null;
      }
    }
    if (ended) {
      await reader.cancel();
      break;
    }
  }
  if (entry || headerFill > 0) {
    const name = entry?.header.name ?? "a header";
    throw new TarError(`the tar stream ended inside ${name} (truncated download?)`);
  }
  return files;
}

/** The bytes of a gzip stream, uncompressed by the browser's (or Node's) DecompressionStream. */
export function gunzip(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  // DOM's typings want a BufferSource stream in; bytes are that.
  const gz = new DecompressionStream("gzip") as unknown as ReadableWritablePair<
    Uint8Array,
    Uint8Array
  >;
  return stream.pipeThrough(gz);
}
