"""The protobuf wire reader the Caffe importer uses, against messages the protobuf library writes."""

from __future__ import annotations

import numpy as np
import pytest

import caffe_fixtures as cf
from alexnet.weights.protowire import Truncated, WireError, decode, first, floats

BLOB = {1: ("num", "int"), 5: ("data", "float"), 7: ("shape", {1: ("dim", "int")})}


def _blob(values, dims):
    blob = cf.caffe_messages()["BlobProto"](num=2)
    blob.shape.dim.extend(dims)
    blob.data.extend(values)
    return blob.SerializeToString()


def test_decodes_what_protobuf_writes():
    data = _blob([1.5, -2.0, 3.25], [1, 3])
    msg = decode(data, BLOB)
    assert first(msg, "num") == 2
    assert first(msg, "shape")["dim"] == [1, 3]                   # packed int64 (BlobShape.dim)
    assert floats(msg, "data").tolist() == [1.5, -2.0, 3.25]      # packed float


def test_unpacked_floats_and_unknown_fields():
    # float data written one value per field (wire type 5), and a field the schema does not know (99)
    data = b"".join(b"\x2d" + np.float32(v).tobytes() for v in (0.5, 4.0)) + b"\x98\x06\x07"
    assert floats(decode(data, BLOB), "data").tolist() == [0.5, 4.0]


def test_errors_name_the_field():
    data = _blob([1.0] * 10, [10])
    with pytest.raises(Truncated, match=r"field 5 at byte \d+ needs 40 bytes, only 25 remain"):   # the 5-byte shape and 15 data bytes cut
        decode(data[:-20], BLOB)
    nested = b"\x3a" + bytes([len(b"\x0a\x05\x01")]) + b"\x0a\x05\x01"     # shape › dim: a packed run cut short
    with pytest.raises(Truncated, match=r"^shape: field 1 at byte 2 needs 5 bytes"):
        decode(nested, BLOB)
    with pytest.raises(WireError, match=r"wire type 7 \(field 1\) at byte 0: not protobuf"):
        decode(b"\x0f\x00", BLOB)
    with pytest.raises(WireError, match=r"field number 0 at byte 0"):
        decode(b"\x00\x00", BLOB)
    with pytest.raises(WireError, match=r"^name: wire type 0 where the schema has a str"):
        decode(b"\x08\x01", {1: ("name", "str")})
