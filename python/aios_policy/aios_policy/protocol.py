"""The worker's framing: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON
(one object, compact). Shared by the worker and :mod:`aios_policy.client`."""

from __future__ import annotations

import json
import os
import struct
from typing import Any, BinaryIO, Optional

MAX_FRAME = 16 * 1024 * 1024
"""Largest frame body accepted in either direction (16 MiB)."""

HEADER = struct.Struct(">I")

ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Compact, UTF-8, and strict: NaN/Infinity are not JSON and are refused (an ``encode`` error)."""


class FrameError(Exception):
    """The stream is not a valid frame sequence (truncated, oversized, not a JSON object)."""


class EndOfStream(Exception):
    """The peer closed the stream cleanly between frames."""


def encode_frame(obj: Any) -> bytes:
    body = ENCODER.encode(obj).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"frame of {len(body)} bytes is over the {MAX_FRAME}-byte limit")
    return HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None:
        data = b""
    if len(data) == n:
        return data
    chunks = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_frame: int = MAX_FRAME) -> Any:
    """The next frame's JSON object. Raises :class:`EndOfStream` at a clean EOF and
    :class:`FrameError` for a truncated, oversized or non-JSON-object frame."""
    head = read_exact(stream, 4)
    if not head:
        raise EndOfStream()
    if len(head) < 4:
        raise FrameError("truncated frame header")
    (length,) = HEADER.unpack(head)
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes is over the {max_frame}-byte limit")
    body = read_exact(stream, length)
    if len(body) < length:
        raise FrameError(f"truncated frame: {len(body)} of {length} bytes")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FrameError(f"frame is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise FrameError("frame is not a JSON object")
    return obj


def frame_id(obj: Optional[dict]) -> Any:
    return obj.get("id") if isinstance(obj, dict) else None
