import { describe, expect, it } from "vitest";
import { maskedCrc32c } from "./crc32c.js";
import { decodeRecords, encodeRecord } from "./tfrecord.js";

const ascii = (s: string) => new TextEncoder().encode(s);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

describe("encodeRecord", () => {
  it("frames data as length, masked CRC of the length, data, masked CRC of the data", () => {
    const data = ascii("123456789");
    const record = encodeRecord(data);
    expect(record.length).toBe(8 + 4 + 9 + 4);
    const view = new DataView(record.buffer);
    expect(view.getUint32(0, true)).toBe(9);
    expect(view.getUint32(4, true)).toBe(0);
    expect(view.getUint32(8, true)).toBe(maskedCrc32c(record.subarray(0, 8)));
    expect(record.subarray(12, 21)).toEqual(data);
    // masked crc32c("123456789"), worked out by hand in crc32c.test.ts.
    expect(view.getUint32(21, true)).toBe(0xc78ab0e5);
  });
});

describe("decodeRecords", () => {
  const records = [ascii("first"), new Uint8Array(0), ascii("third record")];
  const file = concat(...records.map(encodeRecord));

  it("round-trips records, empty ones included", () => {
    expect(decodeRecords(file)).toEqual({ records, truncated: null });
  });

  it("reports a truncated last record at every cut point and still returns earlier records", () => {
    const lastStart = file.length - encodeRecord(records[2]!).length;
    for (let cut = lastStart + 1; cut < file.length; cut++) {
      const result = decodeRecords(file.subarray(0, cut));
      expect(result.records).toEqual(records.slice(0, 2));
      expect(result.truncated).toMatchObject({
        offset: lastStart,
        availableBytes: cut - lastStart,
      });
      // Once the header is complete, the reader knows how much was expected.
      const expectedBytes = cut - lastStart >= 12 ? 12 + records[2]!.length + 4 : null;
      expect(result.truncated?.expectedBytes).toBe(expectedBytes);
    }
  });

  it("throws corrupt_record, naming the source and offset, when data bytes change", () => {
    const corrupt = file.slice();
    const secondStart = encodeRecord(records[0]!).length;
    corrupt[14] = corrupt[14]! ^ 0x01; // a byte of "first"
    expect(() => decodeRecords(corrupt, "run/events.out.tfevents.1")).toThrow(
      expect.objectContaining({
        code: "corrupt_record",
        message: expect.stringMatching(/^run\/events\.out\.tfevents\.1: record data at byte 0 /),
      }),
    );
    const badHeader = file.slice();
    badHeader[secondStart] = 0x7f; // the second record's length
    expect(() => decodeRecords(badHeader)).toThrow(
      expect.objectContaining({
        code: "corrupt_record",
        message: expect.stringContaining(`record header at byte ${secondStart}`),
      }),
    );
  });
});
