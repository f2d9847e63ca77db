// TFRecord framing, the container of every tfevents file (tensorflow/core/lib/io/record_writer.cc):
//   uint64 length (LE) | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
import { maskedCrc32c } from "./crc32c.js";
import { TensorBoardError } from "./errors.js";

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;

/** Frames one record: header with its CRC, the data, and the data's CRC. */
export function encodeRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.length + FOOTER_BYTES);
  const view = new DataView(out.buffer);
  // Lengths past 2^32 are impossible here (a Uint8Array is smaller), so the high word is 0.
  view.setUint32(0, data.length, true);
  view.setUint32(4, 0, true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, HEADER_BYTES);
  view.setUint32(HEADER_BYTES + data.length, maskedCrc32c(data), true);
  return out;
}

/** Where a file ends in the middle of a record (a writer crashed or is still writing). */
export interface TruncatedRecord {
  /** Byte offset at which the incomplete record starts. */
  readonly offset: number;
  /** Bytes the record needs (header, data and footer), when the header is complete. */
  readonly expectedBytes: number | null;
  /** Bytes present from `offset` to the end of the file. */
  readonly availableBytes: number;
}

/** The records of a TFRecord byte string, every CRC verified. */
export interface DecodedRecords {
  readonly records: Uint8Array[];
  /** The incomplete last record, or `null` when the file ends on a record boundary. */
  readonly truncated: TruncatedRecord | null;
}

/**
 * Splits `bytes` into records, verifying both CRCs of each. An incomplete last record is
 * reported in `truncated` (earlier records stay readable); a CRC mismatch anywhere is
 * corruption and throws, naming `source` and the offset.
 */
export function decodeRecords(bytes: Uint8Array, source = "<bytes>"): DecodedRecords {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const available = bytes.length - offset;
    if (available < HEADER_BYTES) {
      return { records, truncated: { offset, expectedBytes: null, availableBytes: available } };
    }
    const expectedHeaderCrc = view.getUint32(offset + 8, true);
    const headerCrc = maskedCrc32c(bytes.subarray(offset, offset + 8));
    if (headerCrc !== expectedHeaderCrc) {
      throw new TensorBoardError(
        "corrupt_record",
        `${source}: record header at byte ${offset}: expected length CRC ${hex(expectedHeaderCrc)}, computed ${hex(headerCrc)} (corrupt file?)`,
      );
    }
    const lengthHigh = view.getUint32(offset + 4, true);
    const length = view.getUint32(offset, true);
    const needed = HEADER_BYTES + length + FOOTER_BYTES;
    if (lengthHigh !== 0 || needed > available) {
      const expectedBytes = lengthHigh !== 0 ? lengthHigh * 2 ** 32 + needed : needed;
      return { records, truncated: { offset, expectedBytes, availableBytes: available } };
    }
    const data = bytes.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
    const expectedDataCrc = view.getUint32(offset + HEADER_BYTES + length, true);
    const dataCrc = maskedCrc32c(data);
    if (dataCrc !== expectedDataCrc) {
      throw new TensorBoardError(
        "corrupt_record",
        `${source}: record data at byte ${offset} (${length} bytes): expected CRC ${hex(expectedDataCrc)}, computed ${hex(dataCrc)} (corrupt file?)`,
      );
    }
    records.push(data);
    offset += needed;
  }
  return { records, truncated: null };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}
