import { describe, expect, it } from "vitest";
import { crc32c, maskedCrc32c } from "./crc32c.js";

const ascii = (s: string) => new TextEncoder().encode(s);

describe("crc32c", () => {
  // Check values from RFC 3720 (iSCSI), appendix B.4, and the CRC catalogue ("123456789").
  it.each([
    ["123456789", ascii("123456789"), 0xe3069283],
    ["empty", new Uint8Array(0), 0x00000000],
    ["32 bytes of zeros", new Uint8Array(32), 0x8a9136aa],
    ["32 bytes of 0xff", new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ["32 ascending bytes", Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ["32 descending bytes", Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ])("matches the known vector for %s", (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  it("masks by rotating right 15 bits and adding 0xa282ead8", () => {
    // crc("123456789") = 0xe3069283; rotr15 = 0x2507c60d; + 0xa282ead8 = 0xc78ab0e5.
    expect(maskedCrc32c(ascii("123456789"))).toBe(0xc78ab0e5);
    // crc(empty) = 0, so the mask is the delta itself.
    expect(maskedCrc32c(new Uint8Array(0))).toBe(0xa282ead8);
  });
});
