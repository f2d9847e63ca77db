import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { fixture, parseHexFixture } from "./__fixtures__/fixtures.js";
import {
  DATA_CLASS_TENSOR,
  DT_FLOAT,
  DT_STRING,
  decodeEvent,
  decodeHParamsPluginData,
  encodeEvent,
  encodeHParamsPluginData,
  type TfEvent,
} from "./event-proto.js";

describe("encodeEvent", () => {
  it("encodes a scalar event byte for byte as derived by hand from the wire format", () => {
    const expected = parseHexFixture(fixture("scalar-event.hex").toString("utf8"));
    expect(expected.length).toBe(32);
    const bytes = encodeEvent({
      wallTime: 1700000000.5,
      step: 42,
      summary: [{ tag: "train/loss", simpleValue: 0.25 }],
    });
    expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
  });

  it("omits proto3 defaults but always writes a oneof member, even 0", () => {
    const bytes = encodeEvent({ wallTime: 0, step: 0, summary: [{ tag: "x", simpleValue: 0 }] });
    // summary(5) len 10 { value(1) len 8 { tag(1) len 1 "x", simple_value(2) 0.0f } }
    expect(Buffer.from(bytes).toString("hex")).toBe("2a0a0a080a01781500000000");
  });

  it("writes a float32 overflow as Infinity rather than throwing", () => {
    const decoded = decodeEvent(
      encodeEvent({ wallTime: 1, step: 1, summary: [{ tag: "big", simpleValue: 1e39 }] }),
    );
    expect(decoded.summary?.[0]?.simpleValue).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("decodeEvent", () => {
  it("decodes the hand-derived scalar fixture", () => {
    const event = decodeEvent(parseHexFixture(fixture("scalar-event.hex").toString("utf8")));
    expect(event).toEqual({
      wallTime: 1700000000.5,
      step: 42,
      summary: [{ tag: "train/loss", simpleValue: 0.25 }],
    });
  });

  it("round-trips every kind of value", () => {
    const hparamsContent = encodeHParamsPluginData({
      kind: "session_start_info",
      hparams: { lr: 0.1, opt: "sgd", nesterov: false },
      groupName: "g",
      startTimeSecs: 12.5,
    });
    const event: TfEvent = {
      wallTime: 1.25,
      step: 2 ** 40,
      summary: [
        { tag: "s", simpleValue: Number.NaN },
        {
          tag: "i",
          image: { height: 2, width: 3, colorspace: 3, encodedImage: Uint8Array.of(1, 2) },
        },
        {
          tag: "h",
          histo: {
            min: -1,
            max: 2,
            num: 3,
            sum: 1,
            sumSquares: 6,
            bucketLimit: [-0.5, 1, 2],
            bucket: [1, 1, 1],
          },
        },
        {
          tag: "t",
          tensor: { dtype: DT_STRING, shape: [], stringVal: [new TextEncoder().encode("# hi")] },
          metadata: { pluginName: "text", pluginContent: new Uint8Array(0), dataClass: 2 },
        },
        {
          tag: "_hparams_/session_start_info",
          tensor: { dtype: DT_FLOAT, shape: [0] },
          metadata: { pluginName: "hparams", pluginContent: hparamsContent, dataClass: 2 },
        },
      ],
    };
    const decoded = decodeEvent(encodeEvent(event));
    expect(decoded.wallTime).toBe(1.25);
    expect(decoded.step).toBe(2 ** 40);
    const [s, i, h, t, hp] = decoded.summary ?? [];
    expect(s?.simpleValue).toBeNaN();
    expect(i?.image).toEqual(event.summary?.[1]?.image);
    expect(h?.histo).toEqual(event.summary?.[2]?.histo);
    expect(t?.tensor?.dtype).toBe(DT_STRING);
    expect(t?.text).toBe("# hi");
    expect(t?.metadata?.dataClass).toBe(DATA_CLASS_TENSOR);
    expect(hp?.tensor).toEqual({ dtype: DT_FLOAT, shape: [0] });
    expect(hp?.hparams).toEqual({
      kind: "session_start_info",
      hparams: { lr: 0.1, opt: "sgd", nesterov: false },
      groupName: "g",
      startTimeSecs: 12.5,
    });
  });

  it("skips unknown fields, as protobuf requires", () => {
    const w = new BinaryWriter();
    w.tag(2, WireType.Varint).int64(7);
    w.tag(10, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string("w").join();
    w.tag(99, WireType.Bit32).fixed32(5);
    expect(decodeEvent(w.finish())).toEqual({ wallTime: 0, step: 7 });
  });

  it("accepts unpacked repeated doubles in a histogram", () => {
    const histo = new BinaryWriter();
    histo.tag(6, WireType.Bit64).double(1).tag(6, WireType.Bit64).double(2);
    histo.tag(7, WireType.Bit64).double(3).tag(7, WireType.Bit64).double(4);
    const value = new BinaryWriter().tag(5, WireType.LengthDelimited).bytes(histo.finish());
    const summary = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(value.finish());
    const event = new BinaryWriter().tag(5, WireType.LengthDelimited).bytes(summary.finish());
    const decoded = decodeEvent(event.finish());
    expect(decoded.summary?.[0]?.histo?.bucketLimit).toEqual([1, 2]);
    expect(decoded.summary?.[0]?.histo?.bucket).toEqual([3, 4]);
  });

  it("reports undecodable bytes as malformed_event, naming the source", () => {
    // Field 5 claims 100 bytes but none follow.
    expect(() => decodeEvent(Uint8Array.of(0x2a, 100), "run/events: record 3")).toThrow(
      expect.objectContaining({
        code: "malformed_event",
        message: expect.stringContaining("run/events: record 3"),
      }),
    );
  });
});

describe("hparams plugin data", () => {
  it("round-trips a session end", () => {
    const bytes = encodeHParamsPluginData({
      kind: "session_end_info",
      status: "failure",
      endTimeSecs: 9,
    });
    // session_end_info(4) len 11 { status(1) = 2 (STATUS_FAILURE), end_time_secs(2) = 9.0 }
    expect(Buffer.from(bytes).toString("hex")).toBe("220b0802110000000000002240");
    expect(decodeHParamsPluginData(bytes)).toEqual({
      kind: "session_end_info",
      status: "failure",
      endTimeSecs: 9,
    });
  });

  it("writes map entries in sorted key order so files are reproducible", () => {
    const a = encodeHParamsPluginData({
      kind: "session_start_info",
      hparams: { b: 1, a: "x" },
      groupName: "",
      startTimeSecs: 0,
    });
    const b = encodeHParamsPluginData({
      kind: "session_start_info",
      hparams: { a: "x", b: 1 },
      groupName: "",
      startTimeSecs: 0,
    });
    expect(a).toEqual(b);
  });
});
