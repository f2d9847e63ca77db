import { decode, encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { toSummaryImage } from "./image-input.js";

describe("toSummaryImage", () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
  ] as const)("reads size and colorspace from a PNG with %i channel(s)", (channels, colorspace) => {
    const png = encode({ width: 3, height: 2, data: new Uint8Array(3 * 2 * channels), channels });
    const image = toSummaryImage(png, "image");
    expect(image).toEqual({ width: 3, height: 2, colorspace, encodedImage: png });
  });

  it("encodes RGBA pixels losslessly", () => {
    const data = Uint8Array.from({ length: 2 * 2 * 4 }, (_, i) => i * 15);
    const image = toSummaryImage({ data, width: 2, height: 2, channels: 4 }, "image");
    expect(image.colorspace).toBe(4);
    expect(Array.from(decode(image.encodedImage).data)).toEqual(Array.from(data));
  });

  it("accepts Uint8ClampedArray pixels (canvas ImageData)", () => {
    const data = new Uint8ClampedArray([255, 0, 0]);
    const image = toSummaryImage({ data, width: 1, height: 1 }, "image");
    expect(Array.from(decode(image.encodedImage).data)).toEqual([255, 0, 0]);
  });

  it("rejects bytes that start like a PNG but have no IHDR chunk", () => {
    const bytes = new Uint8Array(40);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(() => toSummaryImage(bytes, 'image "x"')).toThrow(
      expect.objectContaining({
        code: "invalid_image",
        message: expect.stringMatching(/^image "x": expected PNG bytes/),
      }),
    );
  });

  it("rejects a zero-sized image and unknown inputs", () => {
    expect(() => toSummaryImage({ data: new Uint8Array(0), width: 0, height: 2 }, "i")).toThrow(
      expect.objectContaining({
        message: "i: expected positive integer width and height, got 0×2",
      }),
    );
    expect(() => toSummaryImage(42 as never, "i")).toThrow(
      expect.objectContaining({ message: expect.stringContaining("got number") }),
    );
  });
});
