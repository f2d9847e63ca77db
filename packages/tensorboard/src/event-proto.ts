// Protobuf encoding and decoding of the tfevents messages cnnkit writes. The schema, with the
// TensorBoard sources it follows, is src/proto/tensorboard-subset.proto. Fields are written in
// field-number order and proto3 defaults are omitted (oneof members always written), exactly
// as canonical serializers do, so the bytes match TensorBoard's own writers.
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { TensorBoardError } from "./errors.js";

/** `tensorboard.DataType` values cnnkit writes (tensorboard/compat/proto/types.proto). */
export const DT_FLOAT = 1;
export const DT_STRING = 7;

/** `SummaryMetadata.data_class` (summary.proto). */
export const DATA_CLASS_UNKNOWN = 0;
export const DATA_CLASS_SCALAR = 1;
export const DATA_CLASS_TENSOR = 2;
export const DATA_CLASS_BLOB_SEQUENCE = 3;

/** One `tensorboard.Event`: a file-version marker or a summary at a step. */
export interface TfEvent {
  /** Seconds since the Unix epoch. */
  wallTime: number;
  step: number;
  /** Set only on a file's first event: `"brain.Event:2"`. */
  fileVersion?: string;
  /** `Summary.value`: the tagged values of this event. */
  summary?: TfSummaryValue[];
}

/** One `Summary.Value`. Exactly one of `simpleValue`, `image`, `histo`, `tensor` is set. */
export interface TfSummaryValue {
  tag: string;
  simpleValue?: number;
  image?: TfImage;
  histo?: TfHistogram;
  tensor?: TfTensor;
  metadata?: TfSummaryMetadata;
  /** Reader only: the markdown of a text-plugin value. */
  text?: string;
  /** Reader only: the decoded content of an hparams-plugin value. */
  hparams?: HParamsPluginData;
}

/** `Summary.Image`. */
export interface TfImage {
  height: number;
  width: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  colorspace: number;
  /** The encoded image (PNG). */
  encodedImage: Uint8Array;
}

/** `HistogramProto`: bucket `i` counts values in `[bucketLimit[i-1], bucketLimit[i])`. */
export interface TfHistogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimit: number[];
  bucket: number[];
}

/** The `TensorProto` fields cnnkit uses. */
export interface TfTensor {
  dtype: number;
  shape: number[];
  floatVal?: number[];
  stringVal?: Uint8Array[];
}

/** `SummaryMetadata`. */
export interface TfSummaryMetadata {
  pluginName: string;
  pluginContent: Uint8Array;
  displayName?: string;
  summaryDescription?: string;
  dataClass?: number;
}

/** An hparam value as `google.protobuf.Value` carries it. */
export type HParamValue = string | number | boolean;

/** `HParamsPluginData`, the two kinds cnnkit writes (and `experiment`, which it only recognises). */
export type HParamsPluginData =
  | {
      kind: "session_start_info";
      hparams: Record<string, HParamValue>;
      groupName: string;
      startTimeSecs: number;
    }
  | { kind: "session_end_info"; status: SessionStatus; endTimeSecs: number }
  | { kind: "experiment" }
  | { kind: "unknown" };

/** How a run ended, as the HPARAMS tab shows it. */
export type SessionStatus = "success" | "failure" | "running" | "unknown";

/** `tensorboard.hparams.Status` values (api.proto). */
export const HPARAMS_STATUS: Readonly<Record<SessionStatus, number>> = {
  unknown: 0,
  success: 1,
  failure: 2,
  running: 3,
};

function statusName(value: number): SessionStatus {
  const entry = Object.entries(HPARAMS_STATUS).find(([, v]) => v === value);
  return (entry?.[0] as SessionStatus | undefined) ?? "unknown";
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Serializes a `tensorboard.Event`. */
export function encodeEvent(event: TfEvent): Uint8Array {
  const w = new BinaryWriter();
  if (event.wallTime !== 0) w.tag(1, WireType.Bit64).double(event.wallTime);
  if (event.step !== 0) w.tag(2, WireType.Varint).int64(event.step);
  if (event.fileVersion !== undefined) {
    w.tag(3, WireType.LengthDelimited).string(event.fileVersion);
  } else if (event.summary !== undefined) {
    w.tag(5, WireType.LengthDelimited).fork();
    for (const value of event.summary) {
      w.tag(1, WireType.LengthDelimited).fork();
      writeValue(w, value);
      w.join();
    }
    w.join();
  }
  return w.finish();
}

function writeValue(w: BinaryWriter, v: TfSummaryValue): void {
  if (v.tag !== "") w.tag(1, WireType.LengthDelimited).string(v.tag);
  if (v.simpleValue !== undefined) {
    // Math.fround: the field is a float32, and an overflow must become ±Infinity (as a C++ or
    // Python float cast does), not a range error from the writer.
    w.tag(2, WireType.Bit32).float(Math.fround(v.simpleValue));
  } else if (v.image !== undefined) {
    w.tag(4, WireType.LengthDelimited).fork();
    writeImage(w, v.image);
    w.join();
  } else if (v.histo !== undefined) {
    w.tag(5, WireType.LengthDelimited).fork();
    writeHistogram(w, v.histo);
    w.join();
  } else if (v.tensor !== undefined) {
    w.tag(8, WireType.LengthDelimited).fork();
    writeTensor(w, v.tensor);
    w.join();
  }
  if (v.metadata !== undefined) {
    w.tag(9, WireType.LengthDelimited).fork();
    writeMetadata(w, v.metadata);
    w.join();
  }
}

function writeImage(w: BinaryWriter, image: TfImage): void {
  if (image.height !== 0) w.tag(1, WireType.Varint).int32(image.height);
  if (image.width !== 0) w.tag(2, WireType.Varint).int32(image.width);
  if (image.colorspace !== 0) w.tag(3, WireType.Varint).int32(image.colorspace);
  if (image.encodedImage.length > 0) w.tag(4, WireType.LengthDelimited).bytes(image.encodedImage);
}

function writeHistogram(w: BinaryWriter, h: TfHistogram): void {
  if (h.min !== 0) w.tag(1, WireType.Bit64).double(h.min);
  if (h.max !== 0) w.tag(2, WireType.Bit64).double(h.max);
  if (h.num !== 0) w.tag(3, WireType.Bit64).double(h.num);
  if (h.sum !== 0) w.tag(4, WireType.Bit64).double(h.sum);
  if (h.sumSquares !== 0) w.tag(5, WireType.Bit64).double(h.sumSquares);
  writePackedDoubles(w, 6, h.bucketLimit);
  writePackedDoubles(w, 7, h.bucket);
}

function writePackedDoubles(w: BinaryWriter, field: number, values: readonly number[]): void {
  if (values.length === 0) return;
  w.tag(field, WireType.LengthDelimited).fork();
  for (const x of values) w.double(x);
  w.join();
}

function writeTensor(w: BinaryWriter, t: TfTensor): void {
  if (t.dtype !== 0) w.tag(1, WireType.Varint).int32(t.dtype);
  // The shape is always present, even for a scalar (an empty message), as TensorFlow's
  // make_tensor_proto writes it.
  w.tag(2, WireType.LengthDelimited).fork();
  for (const size of t.shape) {
    w.tag(2, WireType.LengthDelimited).fork();
    if (size !== 0) w.tag(1, WireType.Varint).int64(size);
    w.join();
  }
  w.join();
  if (t.floatVal !== undefined && t.floatVal.length > 0) {
    w.tag(5, WireType.LengthDelimited).fork();
    for (const x of t.floatVal) w.float(Math.fround(x));
    w.join();
  }
  for (const s of t.stringVal ?? []) w.tag(8, WireType.LengthDelimited).bytes(s);
}

function writeMetadata(w: BinaryWriter, m: TfSummaryMetadata): void {
  w.tag(1, WireType.LengthDelimited).fork();
  if (m.pluginName !== "") w.tag(1, WireType.LengthDelimited).string(m.pluginName);
  if (m.pluginContent.length > 0) w.tag(2, WireType.LengthDelimited).bytes(m.pluginContent);
  w.join();
  if (m.displayName) w.tag(2, WireType.LengthDelimited).string(m.displayName);
  if (m.summaryDescription) w.tag(3, WireType.LengthDelimited).string(m.summaryDescription);
  if (m.dataClass) w.tag(4, WireType.Varint).int32(m.dataClass);
}

/** Serializes an `HParamsPluginData` (version 0) holding a session start or end. */
export function encodeHParamsPluginData(data: HParamsPluginData): Uint8Array {
  const w = new BinaryWriter();
  // version = 0 is the proto3 default, so it is not written.
  if (data.kind === "session_start_info") {
    w.tag(3, WireType.LengthDelimited).fork();
    // Sorted keys: map order is unspecified in protobuf; sorting makes files reproducible
    // (what Python's SerializeToString(deterministic=True) does).
    for (const key of Object.keys(data.hparams).sort()) {
      const value = data.hparams[key]!;
      w.tag(1, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(key);
      w.tag(2, WireType.LengthDelimited).fork();
      if (typeof value === "number") w.tag(2, WireType.Bit64).double(value);
      else if (typeof value === "string") w.tag(3, WireType.LengthDelimited).string(value);
      else w.tag(4, WireType.Varint).bool(value);
      w.join();
      w.join();
    }
    if (data.groupName !== "") w.tag(4, WireType.LengthDelimited).string(data.groupName);
    if (data.startTimeSecs !== 0) w.tag(5, WireType.Bit64).double(data.startTimeSecs);
    w.join();
  } else if (data.kind === "session_end_info") {
    w.tag(4, WireType.LengthDelimited).fork();
    const status = HPARAMS_STATUS[data.status];
    if (status !== 0) w.tag(1, WireType.Varint).int32(status);
    if (data.endTimeSecs !== 0) w.tag(2, WireType.Bit64).double(data.endTimeSecs);
    w.join();
  } else {
    throw new TensorBoardError(
      "unsupported_hparams_data",
      `encodeHParamsPluginData: expected kind "session_start_info" or "session_end_info", got "${data.kind}"`,
    );
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding (unknown fields are skipped, as protobuf requires)

/** Parses a serialized `tensorboard.Event`. Throws a `TensorBoardError` on malformed bytes. */
export function decodeEvent(bytes: Uint8Array, source = "<event>"): TfEvent {
  try {
    return readEvent(new BinaryReader(bytes));
  } catch (cause) {
    if (cause instanceof TensorBoardError) throw cause;
    throw new TensorBoardError(
      "malformed_event",
      `${source}: expected a tensorboard.Event protobuf, got undecodable bytes (${(cause as Error).message})`,
      { cause },
    );
  }
}

function readEvent(r: BinaryReader): TfEvent {
  const event: TfEvent = { wallTime: 0, step: 0 };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.Bit64) event.wallTime = r.double();
    else if (field === 2 && wire === WireType.Varint) event.step = Number(r.int64());
    else if (field === 3 && wire === WireType.LengthDelimited) event.fileVersion = r.string();
    else if (field === 5 && wire === WireType.LengthDelimited) {
      event.summary = readSummary(sub(r));
    } else r.skip(wire, field);
  }
  return event;
}

function sub(r: BinaryReader): BinaryReader {
  return new BinaryReader(r.bytes());
}

function readSummary(r: BinaryReader): TfSummaryValue[] {
  const values: TfSummaryValue[] = [];
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) values.push(readValue(sub(r)));
    else r.skip(wire, field);
  }
  return values;
}

function readValue(r: BinaryReader): TfSummaryValue {
  const v: TfSummaryValue = { tag: "" };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) v.tag = r.string();
    else if (field === 2 && wire === WireType.Bit32) v.simpleValue = r.float();
    else if (field === 4 && wire === WireType.LengthDelimited) v.image = readImage(sub(r));
    else if (field === 5 && wire === WireType.LengthDelimited) v.histo = readHistogram(sub(r));
    else if (field === 8 && wire === WireType.LengthDelimited) v.tensor = readTensor(sub(r));
    else if (field === 9 && wire === WireType.LengthDelimited) v.metadata = readMetadata(sub(r));
    else r.skip(wire, field);
  }
  const plugin = v.metadata?.pluginName;
  if (plugin === "text" && v.tensor?.dtype === DT_STRING) {
    v.text = (v.tensor.stringVal ?? []).map((s) => new TextDecoder().decode(s)).join("\n");
  } else if (plugin === "hparams" && v.metadata) {
    v.hparams = decodeHParamsPluginData(v.metadata.pluginContent);
  }
  return v;
}

function readImage(r: BinaryReader): TfImage {
  const image: TfImage = { height: 0, width: 0, colorspace: 0, encodedImage: new Uint8Array(0) };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.Varint) image.height = r.int32();
    else if (field === 2 && wire === WireType.Varint) image.width = r.int32();
    else if (field === 3 && wire === WireType.Varint) image.colorspace = r.int32();
    else if (field === 4 && wire === WireType.LengthDelimited) image.encodedImage = r.bytes();
    else r.skip(wire, field);
  }
  return image;
}

function readHistogram(r: BinaryReader): TfHistogram {
  const h: TfHistogram = {
    min: 0,
    max: 0,
    num: 0,
    sum: 0,
    sumSquares: 0,
    bucketLimit: [],
    bucket: [],
  };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field >= 1 && field <= 5 && wire === WireType.Bit64) {
      const x = r.double();
      if (field === 1) h.min = x;
      else if (field === 2) h.max = x;
      else if (field === 3) h.num = x;
      else if (field === 4) h.sum = x;
      else h.sumSquares = x;
    } else if (field === 6 || field === 7) {
      const target = field === 6 ? h.bucketLimit : h.bucket;
      readRepeatedDouble(r, wire, target);
    } else r.skip(wire, field);
  }
  return h;
}

// Parsers must accept both packed and unpacked encodings of a repeated scalar.
function readRepeatedDouble(r: BinaryReader, wire: WireType, into: number[]): void {
  if (wire === WireType.LengthDelimited) {
    const packed = sub(r);
    while (packed.pos < packed.len) into.push(packed.double());
  } else if (wire === WireType.Bit64) into.push(r.double());
  else r.skip(wire);
}

function readTensor(r: BinaryReader): TfTensor {
  const t: TfTensor = { dtype: 0, shape: [] };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.Varint) t.dtype = r.int32();
    else if (field === 2 && wire === WireType.LengthDelimited) t.shape = readShape(sub(r));
    else if (field === 5) {
      t.floatVal ??= [];
      if (wire === WireType.LengthDelimited) {
        const packed = sub(r);
        while (packed.pos < packed.len) t.floatVal.push(packed.float());
      } else if (wire === WireType.Bit32) t.floatVal.push(r.float());
      else r.skip(wire, field);
    } else if (field === 8 && wire === WireType.LengthDelimited) {
      t.stringVal ??= [];
      t.stringVal.push(r.bytes());
    } else r.skip(wire, field);
  }
  return t;
}

function readShape(r: BinaryReader): number[] {
  const shape: number[] = [];
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WireType.LengthDelimited) {
      const dim = sub(r);
      let size = 0;
      while (dim.pos < dim.len) {
        const [f, w] = dim.tag();
        if (f === 1 && w === WireType.Varint) size = Number(dim.int64());
        else dim.skip(w, f);
      }
      shape.push(size);
    } else r.skip(wire, field);
  }
  return shape;
}

function readMetadata(r: BinaryReader): TfSummaryMetadata {
  const m: TfSummaryMetadata = { pluginName: "", pluginContent: new Uint8Array(0) };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) {
      const pd = sub(r);
      while (pd.pos < pd.len) {
        const [f, w] = pd.tag();
        if (f === 1 && w === WireType.LengthDelimited) m.pluginName = pd.string();
        else if (f === 2 && w === WireType.LengthDelimited) m.pluginContent = pd.bytes();
        else pd.skip(w, f);
      }
    } else if (field === 2 && wire === WireType.LengthDelimited) m.displayName = r.string();
    else if (field === 3 && wire === WireType.LengthDelimited) m.summaryDescription = r.string();
    else if (field === 4 && wire === WireType.Varint) m.dataClass = r.int32();
    else r.skip(wire, field);
  }
  return m;
}

/** Parses the `plugin_data.content` of an hparams-plugin summary value. */
export function decodeHParamsPluginData(bytes: Uint8Array): HParamsPluginData {
  const r = new BinaryReader(bytes);
  let result: HParamsPluginData = { kind: "unknown" };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WireType.LengthDelimited) {
      r.skip(wire, field);
      result = { kind: "experiment" };
    } else if (field === 3 && wire === WireType.LengthDelimited) {
      result = readSessionStart(sub(r));
    } else if (field === 4 && wire === WireType.LengthDelimited) {
      const e = sub(r);
      const end = {
        kind: "session_end_info" as const,
        status: "unknown" as SessionStatus,
        endTimeSecs: 0,
      };
      while (e.pos < e.len) {
        const [f, w] = e.tag();
        if (f === 1 && w === WireType.Varint) end.status = statusName(e.int32());
        else if (f === 2 && w === WireType.Bit64) end.endTimeSecs = e.double();
        else e.skip(w, f);
      }
      result = end;
    } else r.skip(wire, field);
  }
  return result;
}

function readSessionStart(r: BinaryReader): HParamsPluginData {
  const start = {
    kind: "session_start_info" as const,
    hparams: {} as Record<string, HParamValue>,
    groupName: "",
    startTimeSecs: 0,
  };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) {
      const entry = sub(r);
      let key = "";
      let value: HParamValue | undefined;
      while (entry.pos < entry.len) {
        const [f, w] = entry.tag();
        if (f === 1 && w === WireType.LengthDelimited) key = entry.string();
        else if (f === 2 && w === WireType.LengthDelimited) value = readStructValue(sub(entry));
        else entry.skip(w, f);
      }
      if (value !== undefined) start.hparams[key] = value;
    } else if (field === 4 && wire === WireType.LengthDelimited) start.groupName = r.string();
    else if (field === 5 && wire === WireType.Bit64) start.startTimeSecs = r.double();
    else r.skip(wire, field);
  }
  return start;
}

function readStructValue(r: BinaryReader): HParamValue | undefined {
  let value: HParamValue | undefined;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WireType.Bit64) value = r.double();
    else if (field === 3 && wire === WireType.LengthDelimited) value = r.string();
    else if (field === 4 && wire === WireType.Varint) value = r.bool();
    else r.skip(wire, field);
  }
  return value;
}
