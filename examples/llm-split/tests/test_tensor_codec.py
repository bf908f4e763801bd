"""The AIOST1 hidden-state wire format: round trips, exact header layout, clear rejections."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from llama_numpy import MAGIC, TensorCodecError, decode_tensor, encode_tensor


def test_header_layout_is_the_documented_one() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = encode_tensor(a)
    assert data[:6] == b"AIOST1" == MAGIC
    assert data[6] == 3 and data[7:10] == b"<f4"
    assert data[10] == 2
    assert struct.unpack("<2I", data[11:19]) == (2, 3)
    assert data[19:] == a.astype("<f4").tobytes()
    assert len(data) == 19 + 6 * 4


@pytest.mark.parametrize(
    "array, dtype, expect_dtype",
    [
        (np.random.default_rng(0).standard_normal((7, 576)).astype(np.float32), None, np.float32),
        (np.random.default_rng(1).standard_normal((3, 4)), None, np.float32),  # float64 -> float32 by default
        (np.array([1, 4093, 198, 49151], dtype=np.int64), None, np.int64),  # token ids keep their dtype
        (np.linspace(-2, 2, 10, dtype=np.float32), np.float16, np.float16),
        (np.zeros((0, 576), dtype=np.float32), None, np.float32),
        (np.float32(3.5), None, np.float32),  # 0-d
        (np.array([True, False]), None, np.bool_),
    ],
)
def test_round_trip(array, dtype, expect_dtype) -> None:
    out = decode_tensor(encode_tensor(array, dtype=dtype))
    assert out.dtype == np.dtype(expect_dtype)
    assert out.shape == np.shape(array)
    np.testing.assert_array_equal(out, np.asarray(array).astype(expect_dtype))
    assert out.flags.writeable and out.dtype.isnative


def test_float32_round_trip_is_bit_exact() -> None:
    a = np.random.default_rng(2).standard_normal((5, 576)).astype(np.float32)
    a[0, 0], a[1, 1] = np.inf, -0.0
    b = decode_tensor(encode_tensor(a))
    assert a.tobytes() == b.tobytes()


def test_big_endian_input_is_sent_little_endian() -> None:
    a = np.arange(4, dtype=">f4")
    data = encode_tensor(a)
    assert data[7:10] == b"<f4"
    np.testing.assert_array_equal(decode_tensor(data), np.arange(4, dtype=np.float32))


def _valid() -> bytes:
    return encode_tensor(np.ones((2, 3), dtype=np.float32))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "truncated header"),
        (b"AIOST1", "truncated header"),
        (b"AIOST2" + _valid()[6:], "bad magic"),
        (b"NOTTEN" + b"\x00" * 40, "bad magic"),
        (b"AIOST1\x00" + b"\x00" * 8, "bad dtype string length"),
        (b"AIOST1\x03<c8\x01\x01\x00\x00\x00" + b"\x00" * 8, "unsupported dtype '<c8'"),
        (b"AIOST1\x03>f4\x01\x01\x00\x00\x00" + b"\x00" * 4, "unsupported dtype '>f4'"),
        (b"AIOST1\x03\xff\xfe\xfd\x00", "not ASCII"),
        (b"AIOST1\x03<f4\x09" + b"\x01\x00\x00\x00" * 9 + b"\x00" * 4, "bad ndim 9"),
        (b"AIOST1\x03<f4\x02\x02\x00\x00\x00", "truncated header: shape"),
        (_valid()[:-1], "payload is 23 bytes, expected 24"),
        (_valid() + b"\x00", "payload is 25 bytes, expected 24"),
    ],
)
def test_rejects_bad_bytes(data: bytes, message: str) -> None:
    with pytest.raises(TensorCodecError, match=message.replace("(", r"\(")):
        decode_tensor(data)


def test_rejects_non_bytes_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected bytes"):
        decode_tensor("AIOST1")  # type: ignore[arg-type]
    assert decode_tensor(memoryview(_valid())).shape == (2, 3)


def test_encode_rejects_unsupported() -> None:
    with pytest.raises(TensorCodecError, match="unsupported dtype"):
        encode_tensor(np.zeros(2, dtype=np.complex64))
    with pytest.raises(TensorCodecError, match="refusing to cast"):
        encode_tensor(np.zeros(2, dtype=np.float32), dtype=np.int32)
    with pytest.raises(TensorCodecError, match="too many dimensions"):
        encode_tensor(np.zeros((1,) * 9, dtype=np.float32))
