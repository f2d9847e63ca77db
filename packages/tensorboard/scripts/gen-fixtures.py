#!/usr/bin/python3
"""Writes src/__fixtures__/python-reference.tfevents (+ .json): an event file encoded by
Google's own protobuf runtime and framed with an independent CRC-32C (crcmod), so the tests
can check @cnnkit/tensorboard's bytes and reader against it without Python.

Run from packages/tensorboard with Debian's Python (python3-protobuf, python3-crcmod):
    /usr/bin/python3 scripts/gen-fixtures.py

The message types are built at run time from a FileDescriptorProto that transcribes
src/proto/tensorboard-subset.proto (field numbers and types from TensorBoard's published
protos); the histogram bucketing is re-implemented here from TensorFlow's histogram.cc.
"""
import json
import os
import struct
import sys
import zlib

import crcmod.predefined
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2
from google.protobuf import message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "__fixtures__")

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def message(name, fields, nested=(), map_entry=False):
    m = descriptor_pb2.DescriptorProto(name=name)
    for number, fname, ftype, label, type_name, oneof in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof
        if label == REP and ftype in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            f.options.packed = True
    for n in nested:
        m.nested_type.add().CopyFrom(n)
    if map_entry:
        m.options.map_entry = True
    return m


def build_pool():
    fd = descriptor_pb2.FileDescriptorProto(
        name="cnnkit_tensorboard_subset.proto",
        package="tensorboard",
        syntax="proto3",
        dependency=["google/protobuf/struct.proto"],
    )
    ev = message("Event", [
        (1, "wall_time", F.TYPE_DOUBLE, OPT, None, None),
        (2, "step", F.TYPE_INT64, OPT, None, None),
        (3, "file_version", F.TYPE_STRING, OPT, None, 0),
        (5, "summary", F.TYPE_MESSAGE, OPT, ".tensorboard.Summary", 0),
    ])
    ev.oneof_decl.add(name="what")
    image = message("Image", [
        (1, "height", F.TYPE_INT32, OPT, None, None),
        (2, "width", F.TYPE_INT32, OPT, None, None),
        (3, "colorspace", F.TYPE_INT32, OPT, None, None),
        (4, "encoded_image_string", F.TYPE_BYTES, OPT, None, None),
    ])
    value = message("Value", [
        (1, "tag", F.TYPE_STRING, OPT, None, None),
        (2, "simple_value", F.TYPE_FLOAT, OPT, None, 0),
        (4, "image", F.TYPE_MESSAGE, OPT, ".tensorboard.Summary.Image", 0),
        (5, "histo", F.TYPE_MESSAGE, OPT, ".tensorboard.HistogramProto", 0),
        (8, "tensor", F.TYPE_MESSAGE, OPT, ".tensorboard.TensorProto", 0),
        (9, "metadata", F.TYPE_MESSAGE, OPT, ".tensorboard.SummaryMetadata", None),
    ])
    value.oneof_decl.add(name="value")
    summary = message("Summary", [
        (1, "value", F.TYPE_MESSAGE, REP, ".tensorboard.Summary.Value", None),
    ], nested=[image, value])
    plugin_data = message("PluginData", [
        (1, "plugin_name", F.TYPE_STRING, OPT, None, None),
        (2, "content", F.TYPE_BYTES, OPT, None, None),
    ])
    metadata = message("SummaryMetadata", [
        (1, "plugin_data", F.TYPE_MESSAGE, OPT, ".tensorboard.SummaryMetadata.PluginData", None),
        (2, "display_name", F.TYPE_STRING, OPT, None, None),
        (3, "summary_description", F.TYPE_STRING, OPT, None, None),
        (4, "data_class", F.TYPE_INT32, OPT, None, None),
    ], nested=[plugin_data])
    histo = message("HistogramProto", [
        (1, "min", F.TYPE_DOUBLE, OPT, None, None),
        (2, "max", F.TYPE_DOUBLE, OPT, None, None),
        (3, "num", F.TYPE_DOUBLE, OPT, None, None),
        (4, "sum", F.TYPE_DOUBLE, OPT, None, None),
        (5, "sum_squares", F.TYPE_DOUBLE, OPT, None, None),
        (6, "bucket_limit", F.TYPE_DOUBLE, REP, None, None),
        (7, "bucket", F.TYPE_DOUBLE, REP, None, None),
    ])
    dim = message("Dim", [(1, "size", F.TYPE_INT64, OPT, None, None)])
    shape = message("TensorShapeProto", [
        (2, "dim", F.TYPE_MESSAGE, REP, ".tensorboard.TensorShapeProto.Dim", None),
    ], nested=[dim])
    tensor = message("TensorProto", [
        (1, "dtype", F.TYPE_INT32, OPT, None, None),
        (2, "tensor_shape", F.TYPE_MESSAGE, OPT, ".tensorboard.TensorShapeProto", None),
        (5, "float_val", F.TYPE_FLOAT, REP, None, None),
        (8, "string_val", F.TYPE_BYTES, REP, None, None),
    ])
    entry = message("HparamsEntry", [
        (1, "key", F.TYPE_STRING, OPT, None, None),
        (2, "value", F.TYPE_MESSAGE, OPT, ".google.protobuf.Value", None),
    ], map_entry=True)
    start = message("SessionStartInfo", [
        (1, "hparams", F.TYPE_MESSAGE, REP, ".tensorboard.SessionStartInfo.HparamsEntry", None),
        (4, "group_name", F.TYPE_STRING, OPT, None, None),
        (5, "start_time_secs", F.TYPE_DOUBLE, OPT, None, None),
    ], nested=[entry])
    end = message("SessionEndInfo", [
        (1, "status", F.TYPE_INT32, OPT, None, None),
        (2, "end_time_secs", F.TYPE_DOUBLE, OPT, None, None),
    ])
    plugin = message("HParamsPluginData", [
        (1, "version", F.TYPE_INT32, OPT, None, None),
        (3, "session_start_info", F.TYPE_MESSAGE, OPT, ".tensorboard.SessionStartInfo", 0),
        (4, "session_end_info", F.TYPE_MESSAGE, OPT, ".tensorboard.SessionEndInfo", 0),
    ])
    plugin.oneof_decl.add(name="data")
    for m in (ev, summary, metadata, histo, shape, tensor, start, end, plugin):
        fd.message_type.add().CopyFrom(m)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(struct_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fd)
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        d = pool.FindMessageTypeByName("tensorboard." + name)
        get = getattr(message_factory, "GetMessageClass", None)
        return get(d) if get else factory.GetPrototype(d)

    return {n: cls(n) for n in (
        "Event", "Summary", "HistogramProto", "TensorProto", "HParamsPluginData")}


def tensorflow_buckets(values):
    """TensorFlow's default histogram (tsl/lib/histogram/histogram.cc), empty runs collapsed."""
    pos = []
    v = 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    limits = [-x for x in reversed(pos)] + [0.0] + pos
    counts = [0.0] * len(limits)
    for x in values:
        lo, hi = 0, len(limits) - 1
        while lo < hi:  # first limit > x
            mid = (lo + hi) // 2
            if limits[mid] > x:
                hi = mid
            else:
                lo = mid + 1
        counts[lo] += 1
    first = next(i for i, c in enumerate(counts) if c)
    last = max(i for i, c in enumerate(counts) if c)
    out_limits, out_counts = [], []
    for i in range(first, last + 1):
        if counts[i] == 0 and out_counts and out_counts[-1] == 0:
            out_limits[-1] = limits[i]
            continue
        out_limits.append(limits[i])
        out_counts.append(counts[i])
    return out_limits, out_counts


def tiny_png(width, height, rgb_rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    raw = b"".join(b"\x00" + bytes(row) for row in rgb_rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def main():
    M = build_pool()
    crc = crcmod.predefined.mkCrcFun("crc-32c")

    def masked(data):
        c = crc(data)
        return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

    def frame(data):
        header = struct.pack("<Q", len(data))
        return header + struct.pack("<I", masked(header)) + data + struct.pack("<I", masked(data))

    wall = 1700000000.5
    spec = {"wallTimeMs": wall * 1000, "events": []}
    records = []

    def add(event, description):
        records.append(frame(event.SerializeToString(deterministic=True)))
        spec["events"].append(description)

    add(M["Event"](wall_time=wall, file_version="brain.Event:2"), {"kind": "file_version"})

    def scalar(tag, value, step):
        e = M["Event"](wall_time=wall, step=step)
        e.summary.value.add(tag=tag, simple_value=value)
        add(e, {"kind": "scalar", "tag": tag, "value": value if value == value else "NaN",
                "step": step})

    scalar("train/loss", 0.25, 42)
    scalar("lr", 0.1, 0)  # step 0 and a value float32 cannot hold exactly
    scalar("test/acc", float("nan"), 43)

    values = [-2.5, -1.0, -1.0, 0.0, 1e-13, 0.3, 0.31, 7.0, 1234.5]
    limits, counts = tensorflow_buckets(values)
    e = M["Event"](wall_time=wall, step=44)
    h = e.summary.value.add(tag="weights/stem_conv").histo
    h.min, h.max, h.num = min(values), max(values), len(values)
    h.sum = 0.0
    for x in values:
        h.sum += x
    h.sum_squares = 0.0
    for x in values:
        h.sum_squares += x * x
    h.bucket_limit.extend(limits)
    h.bucket.extend(counts)
    add(e, {"kind": "histogram", "tag": "weights/stem_conv", "values": values, "step": 44})

    png = tiny_png(2, 1, [[255, 0, 0, 0, 0, 255]])
    e = M["Event"](wall_time=wall, step=45)
    img = e.summary.value.add(tag="samples").image
    img.height, img.width, img.colorspace, img.encoded_image_string = 1, 2, 3, png
    add(e, {"kind": "image", "tag": "samples", "pngHex": png.hex(), "step": 45})

    markdown = "**config**\n- lr: 0.1\n- café ☕"
    e = M["Event"](wall_time=wall, step=46)
    v = e.summary.value.add(tag="config")
    v.tensor.dtype = 7  # DT_STRING
    v.tensor.tensor_shape.SetInParent()  # rank 0: present but empty, as make_tensor_proto writes
    v.tensor.string_val.append(markdown.encode("utf-8"))
    v.metadata.plugin_data.plugin_name = "text"
    v.metadata.data_class = 2  # DATA_CLASS_TENSOR
    add(e, {"kind": "text", "tag": "config", "markdown": markdown, "step": 46})

    hparams = {"lr": 0.1, "optimizer": "adamw", "nesterov": True, "epochs": 30}

    def hparams_event(tag, fill):
        pd = M["HParamsPluginData"]()
        fill(pd)
        e = M["Event"](wall_time=wall)
        v = e.summary.value.add(tag=tag)
        v.tensor.dtype = 1  # NULL_TENSOR: DT_FLOAT, shape [0]
        v.tensor.tensor_shape.dim.add(size=0)
        v.metadata.plugin_data.plugin_name = "hparams"
        v.metadata.plugin_data.content = pd.SerializeToString(deterministic=True)
        v.metadata.data_class = 2
        return e

    def fill_start(pd):
        s = pd.session_start_info
        for k, x in hparams.items():
            if isinstance(x, bool):
                s.hparams[k].bool_value = x
            elif isinstance(x, str):
                s.hparams[k].string_value = x
            else:
                s.hparams[k].number_value = x
        s.start_time_secs = wall

    def fill_end(pd):
        pd.session_end_info.status = 1  # STATUS_SUCCESS
        pd.session_end_info.end_time_secs = wall

    records.append(frame(hparams_event("_hparams_/session_start_info", fill_start)
                         .SerializeToString(deterministic=True)))
    scalar_event = M["Event"](wall_time=wall, step=46)
    scalar_event.summary.value.add(tag="hparam/test_acc", simple_value=0.91)
    records.append(frame(scalar_event.SerializeToString(deterministic=True)))
    records.append(frame(hparams_event("_hparams_/session_end_info", fill_end)
                         .SerializeToString(deterministic=True)))
    spec["events"].append({"kind": "hparams", "hparams": hparams,
                           "metrics": {"hparam/test_acc": 0.91}, "records": 3})

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "python-reference.tfevents"), "wb") as f:
        f.write(b"".join(records))
    with open(os.path.join(OUT, "python-reference.json"), "w") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", len(records), "records,", sum(map(len, records)), "bytes to", OUT)


if __name__ == "__main__":
    main()
