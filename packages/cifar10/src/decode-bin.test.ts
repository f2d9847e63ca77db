import { describe, expect, it } from "vitest";
import { binBatch, expectedImage, labelOf } from "../test/helpers.js";
import { decodeBinBatch, planarToHwc } from "./decode-bin.js";

describe("decodeBinBatch", () => {
  it("turns planar records into NHWC images and labels", () => {
    const images = new Uint8Array(4 * 3072);
    const labels = new Uint8Array(4);
    decodeBinBatch(binBatch(2), "data_batch_3.bin", 4, images, labels, 0);
    expect([...labels]).toEqual([8, 9, 10, 11].map(labelOf));
    for (let r = 0; r < 4; r++) {
      expect([...images.subarray(r * 3072, (r + 1) * 3072)]).toEqual([...expectedImage(8 + r)]);
    }
  });

  it("gives the same bytes on the unaligned (byte-by-byte) path", () => {
    const record = binBatch(0).subarray(0, 3073);
    const backing = new Uint8Array(3072 + 1);
    const unaligned = backing.subarray(1);
    planarToHwc(record, 1, unaligned, 0);
    expect([...unaligned]).toEqual([...expectedImage(0)]);
  });
});
