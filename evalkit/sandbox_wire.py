"""What crosses the sandbox's pipes: report lines, length-prefixed frames, and plain values (a tagged JSON, never pickle).

Used on both sides: by the harness (evalkit/sandbox.py) and, imported as a top-level module, by the
sandbox's own processes (evalkit/sandbox_driver.py, evalkit/sandbox_referee.py).

Plain values are what a test may pass to the candidate and get back: None, bool, int, float (NaN
and infinities included), str, bytes, list, tuple, dict, set and frozenset, nested. A list is a
JSON array; every other non-JSON type is a one-key JSON object naming it (`{"t": [...]}` a tuple,
`{"d": [[k, v], ...]}` a dict, `{"s": ...}`, `{"fs": ...}`, `{"b": "hex"}`). Decoding builds only
those built-in types, so nothing a candidate sends can carry behaviour (an `__eq__`, a frame, a
subclass) into the process that decides the verdict; anything else in a frame is a BadValue.
"""

from __future__ import annotations

import json
import os
import struct

FRAME_HEADER = struct.Struct(">I")
DEPTH_MAX = 100  # deeper values are refused on both sides: no test needs them, a recursion bomb would


class BadValue(ValueError):
    """Bytes that are not an encoded plain value, or a value that is not plain."""


# --- report lines: `key=hex` fields, which anything can write but nothing can exploit when parsed ----


def encode_fields(fields: dict) -> bytes:
    return (" ".join(f"{k}={str(v).encode('utf-8', 'replace').hex()}" for k, v in fields.items()) + "\n").encode()


def decode_fields(line: str) -> dict[str, str]:
    fields = {}
    for item in line.split():
        key, _, value = item.partition("=")
        try:
            fields[key] = bytes.fromhex(value).decode("utf-8", "replace")
        except ValueError:
            continue
    return fields


# --- plain values ------------------------------------------------------------------------------------


def to_json(value: object, depth: int = 0) -> object:
    """A plain value as JSON-ready data. Subclasses of the built-in types count as their base type
    (a numpy float is a float; an int whose `__eq__` always says yes is just its integer)."""
    if depth > DEPTH_MAX:
        raise BadValue("nested too deeply")
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, int):  # the base methods, never a subclass's overrides
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, list):
        return [to_json(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"t": [to_json(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"d": [[to_json(k, depth + 1), to_json(v, depth + 1)] for k, v in dict.items(value)]}
    if isinstance(value, (set, frozenset)):
        tag = "fs" if isinstance(value, frozenset) else "s"
        return {tag: [to_json(v, depth + 1) for v in (frozenset.__iter__ if tag == "fs" else set.__iter__)(value)]}
    raise BadValue(f"a {type(value).__name__} is not a plain value")


def _tagged(pairs: list[tuple[str, object]]) -> object:
    if len(pairs) != 1:
        raise BadValue("a tag object has exactly one key")
    tag, items = pairs[0]
    if tag == "b" and type(items) is str:
        return bytes.fromhex(items)
    if type(items) is not list:
        raise BadValue(f"tag {tag!r} holds a list")
    if tag == "t":
        return tuple(items)
    if tag == "s":
        return set(items)
    if tag == "fs":
        return frozenset(items)
    if tag == "d" and all(type(p) is list and len(p) == 2 for p in items):
        return {k: v for k, v in items}
    raise BadValue(f"unknown tag {tag!r}")


def dumps(value: object) -> bytes:
    """ASCII JSON: a lone surrogate in a string travels as an escape, never as bytes that cannot be encoded."""
    try:
        return json.dumps(to_json(value), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    except (ValueError, TypeError, RecursionError) as exc:  # an int too long for text, a cycle
        raise BadValue(str(exc)) from None


def loads(data: bytes) -> object:
    """Only None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset come out; anything else raises BadValue."""
    try:
        return json.loads(data, object_pairs_hook=_tagged)
    except BadValue:
        raise
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:  # bad JSON, an unhashable key, deep nesting
        raise BadValue(f"{type(exc).__name__}: {exc}"[:200]) from None


# --- frames --------------------------------------------------------------------------------------------


def write_frame(fd: int, payload: bytes) -> None:
    data = memoryview(FRAME_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from a blocking descriptor; None at end of file."""
    chunks, left = [], size
    while left:
        block = os.read(fd, min(left, 1 << 20))
        if not block:
            return None
        chunks.append(block)
        left -= len(block)
    return b"".join(chunks)


def read_frame(fd: int, limit: int) -> bytes | None:
    """One frame from a blocking descriptor (the candidate's side: the sender is the trusted referee)."""
    header = read_exactly(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > limit:
        raise BadValue(f"a frame of {size} bytes is over the limit of {limit}")
    return read_exactly(fd, size)
