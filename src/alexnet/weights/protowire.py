"""A reader of the protobuf wire format, for the few messages the importers need (Caffe's).

No .proto files, no protoc, no generated code: a message is decoded with a *schema*, a dict
``field number → (name, kind)`` where kind is "int" (varints, packed or not), "float" / "double"
(packed or not; packed runs become numpy arrays without a copy), "str", or a nested schema.
Fields not in the schema are skipped (their bytes are still checked). Errors say which field:

- :class:`Truncated`: the bytes end inside a field (a file cut short);
- :class:`WireError`: bytes that are not protobuf (a wire type protobuf 3 does not write, field 0,
  a field with another wire type than its schema's).

    net = decode(data, {1: ("name", "str"), 100: ("layer", {1: ("name", "str"), 7: ("blobs", BLOB)})})
    net["layer"][0]["blobs"][0]["data"]     # [np.ndarray of float32]
"""

from __future__ import annotations

import struct
from typing import Any, Iterator, Union

import numpy as np

Schema = dict[int, tuple[str, Union[str, dict]]]
Message = dict[str, list[Any]]


class WireError(ValueError):
    """Bytes that are not the protobuf message expected; ``path`` names the field (a › b › c)."""

    def __init__(self, reason: str, path: str = ""):
        self.reason, self.path = reason, path
        super().__init__(f"{path}: {reason}" if path else reason)

    def inside(self, name: str) -> "WireError":
        return type(self)(self.reason, f"{name} › {self.path}" if self.path else name)


class Truncated(WireError):
    """The bytes end inside a field; ``partial`` is the part of it that is there (a caller may
    read a name from it), ``number`` its field number."""

    partial: memoryview | None = None
    number: int | None = None

    def inside(self, name: str) -> "Truncated":
        err = super().inside(name)
        err.partial, err.number = self.partial, self.number
        return err


def read_varint(buf: memoryview, pos: int, offset: int = 0) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise Truncated(f"the bytes end inside a varint at byte {offset + pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError(f"a varint longer than 10 bytes at byte {offset + pos}")


_FIXED = {1: 8, 5: 4}


def fields(buf: memoryview, offset: int = 0) -> Iterator[tuple[int, int, Any, int, int]]:
    """(field number, wire type, value, the field's byte offset, its value's byte offset) of each
    field; value: an int (varint), or a memoryview (fixed32/64, length-delimited). ``offset`` is
    ``buf``'s own offset in the file, so that messages name absolute bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key, pos = read_varint(buf, pos, offset)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {offset + start}: not protobuf")
        if wire == 0:
            value_at = offset + pos
            value, pos = read_varint(buf, pos, offset)
        elif wire in _FIXED or wire == 2:
            n = _FIXED[wire] if wire in _FIXED else None
            if n is None:
                n, pos = read_varint(buf, pos, offset)
            if pos + n > end:
                raise _truncated(number, offset + start, n, buf[pos:end])
            value = buf[pos:pos + n]
            value_at = offset + pos
            pos += n
        else:
            raise WireError(f"wire type {wire} (field {number}) at byte {offset + start}: not protobuf "
                            f"(or the long-deprecated groups)")
        yield number, wire, value, offset + start, value_at


def _truncated(number: int, at: int, need: int, partial: memoryview) -> Truncated:
    err = Truncated(f"field {number} at byte {at} needs {need} bytes, only {len(partial)} remain")
    err.partial = partial          # the part that is there (a caller may read its name)
    err.number = number
    return err


def _scalars(kind: str, wire: int, value, name: str):
    """The value(s) of a scalar field: a list of ints/floats, or one numpy array for a packed run."""
    if kind == "int":
        if wire == 0:
            return [value]
        if wire == 2:                         # packed varints
            out, pos = [], 0
            while pos < len(value):
                v, pos = read_varint(value, pos)
                out.append(v)
            return out
    elif kind in ("float", "double"):
        size, np_fmt, st_fmt, fixed = (4, "<f4", "<f", 5) if kind == "float" else (8, "<f8", "<d", 1)
        if wire == fixed:
            return [struct.unpack(st_fmt, value)[0]]
        if wire == 2:
            if len(value) % size:
                raise WireError(f"a packed run of {len(value)} bytes is not whole {kind}s", name)
            return [np.frombuffer(value, dtype=np_fmt)]
    elif kind == "str" and wire == 2:
        return [bytes(value).decode("utf-8", errors="replace")]
    raise WireError(f"wire type {wire} where the schema has a {kind}", name)


def decode(buf: bytes | memoryview, schema: Schema, offset: int = 0) -> Message:
    """A message as ``{name: [values]}`` (every field a list, in file order). Nested messages are
    dicts; packed float runs numpy arrays (views of ``buf``: keep it alive)."""
    buf = memoryview(buf)
    out: Message = {}
    for number, wire, value, _, value_at in fields(buf, offset):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            if wire != 2:
                raise WireError(f"wire type {wire} where the schema has a message", name)
            try:
                vals = [decode(value, kind, value_at)]
            except WireError as e:
                raise e.inside(name) from None
        else:
            vals = _scalars(kind, wire, value, name)
        out.setdefault(name, []).extend(vals)
    return out


def first(msg: Message, name: str, default: Any = None) -> Any:
    """The first value of a field (protobuf's singular fields), or ``default``."""
    vals = msg.get(name)
    return vals[0] if vals else default


def floats(msg: Message, name: str) -> np.ndarray:
    """All values of a repeated float field as one float32 array (packed runs and single values)."""
    parts = [np.atleast_1d(np.asarray(v, dtype=np.float32)) for v in msg.get(name, [])]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
