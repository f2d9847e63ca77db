import { deflateSync } from "node:zlib";
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { decodePNG, encodePNG, VizError } from "./index.js";
import { pngDataUrl } from "./png.js";

function gradient(width: number, height: number, channels: 1 | 3 | 4): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
  return data;
}

describe("encodePNG / decodePNG", () => {
  it.each([1, 3, 4] as const)("round-trips %i-channel images exactly", (channels) => {
    const image = { data: gradient(7, 5, channels), width: 7, height: 5, channels };
    const png = encodePNG(image);
    expect(Array.from(png.subarray(0, 8))).toEqual([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ]);
    const back = decodePNG(png);
    expect(back.width).toBe(7);
    expect(back.height).toBe(5);
    expect(back.channels).toBe(channels);
    expect(Array.from(back.data)).toEqual(Array.from(image.data));
  });

  it("treats a missing channels field as RGB (a CIFAR-10 sample)", () => {
    const data = gradient(32, 32, 3);
    expect(decodePNG(encodePNG({ data, width: 32, height: 32 })).channels).toBe(3);
  });

  it("expands palette images to RGB", () => {
    const png = encode({
      width: 2,
      height: 1,
      data: new Uint8Array([1, 0]),
      depth: 8,
      channels: 1,
      palette: [
        [10, 20, 30],
        [200, 100, 50],
      ],
    });
    const back = decodePNG(png);
    expect(back.channels).toBe(3);
    expect(Array.from(back.data)).toEqual([200, 100, 50, 10, 20, 30]);
  });

  it("reduces 16-bit samples to 8 bits and gray+alpha to RGBA", () => {
    const sixteen = encode({
      width: 2,
      height: 1,
      data: new Uint16Array([0xffff, 0x8000]),
      depth: 16,
      channels: 1,
    });
    expect(Array.from(decodePNG(sixteen).data)).toEqual([255, 128]);
    const grayAlpha = encode({
      width: 1,
      height: 1,
      data: new Uint8Array([90, 60]),
      depth: 8,
      channels: 2,
    });
    const back = decodePNG(grayAlpha);
    expect(back.channels).toBe(4);
    expect(Array.from(back.data)).toEqual([90, 90, 90, 60]);
  });

  it("unpacks 1-bit grayscale to 0 and 255", () => {
    // Hand-made IHDR/IDAT: 3×1 pixels, bit depth 1, colour type 0; row bits 101 → filter byte 0.
    const png = pngFile(3, 1, 1, 0, new Uint8Array([0, 0b1010_0000]));
    const back = decodePNG(png);
    expect(back.channels).toBe(1);
    expect(Array.from(back.data)).toEqual([255, 0, 255]);
  });

  it("rejects bytes that are not a PNG, naming what it got", () => {
    expect(() => decodePNG(new Uint8Array([1, 2, 3]))).toThrow(VizError);
    expect(() => decodePNG(new Uint8Array([1, 2, 3]))).toThrow(
      /expected PNG bytes.*got 3 bytes starting 01 02 03/,
    );
  });

  it("rejects images whose data does not match their size", () => {
    const bad = { data: new Uint8Array(10), width: 2, height: 2 };
    expect(() => encodePNG(bad)).toThrow(/expected 12 bytes \(2×2×3 HWC\), got 10/);
    try {
      encodePNG(bad);
    } catch (err) {
      expect((err as VizError).code).toBe("invalid_image");
    }
  });
});

/** A minimal PNG file from raw (already filtered) scanlines. */
function pngFile(width: number, height: number, depth: number, colorType: number, raw: Uint8Array) {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(Buffer.from(type, "latin1"), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  return Buffer.concat(parts);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe("pngDataUrl", () => {
  it("base64-encodes every byte, also past the 32 KiB slices it works in", () => {
    const data = new Uint8Array(200 * 200 * 3);
    let x = 2463534242; // xorshift32 noise: incompressible, so the PNG is as big as the pixels
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 255;
    }
    const png = encodePNG({ data, width: 200, height: 200 });
    expect(png.length).toBeGreaterThan(0x8000 * 2);
    const url = pngDataUrl(png);
    expect(url.startsWith("data:image/png;base64,iVBORw0KGgo")).toBe(true);
    const back = Buffer.from(url.slice("data:image/png;base64,".length), "base64");
    expect(back.equals(Buffer.from(png))).toBe(true);
  });
});
