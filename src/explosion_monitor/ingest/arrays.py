"""Arrow arrays to numpy and back through their buffers.

pyarrow's own conversions (`pa.array`, `pa.scalar`, `Array.to_numpy`) import pandas on first
use when it is installed: a second and some 50 MB per process, for nothing we need. These
helpers read and build the buffers directly, which is also cheaper per batch.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), count=offset + n, bitorder="little")[offset:].view(bool)


def validity(arr: pa.Array) -> np.ndarray | None:
    """Which rows are not null, or None when none is."""
    if arr.null_count == 0:
        return None
    return _bits(arr.buffers()[0], arr.offset, len(arr))


def values(arr: pa.Array) -> np.ndarray:
    """The values of a fixed-width array (numbers, dates); whatever lies behind a null."""
    if pa.types.is_boolean(arr.type):
        return _bits(arr.buffers()[1], arr.offset, len(arr))
    dtype = np.dtype(("u" if pa.types.is_unsigned_integer(arr.type) else "i") + str(arr.type.bit_width // 8))
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def bools(arr: pa.Array) -> np.ndarray:
    """A boolean array as numpy, null as False."""
    out = values(arr)
    valid = validity(arr)
    return out & valid if valid is not None else out


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


def from_bools(mask: np.ndarray) -> pa.BooleanArray:
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def from_values(data: np.ndarray, type: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """A fixed-width array of `type` over numpy `data` (same width), null where not `valid`."""
    bitmap = _bitmap(valid)
    if pa.types.is_boolean(type):
        buf = pa.py_buffer(np.packbits(data, bitorder="little"))
    else:
        buf = pa.py_buffer(np.ascontiguousarray(data))
    return pa.Array.from_buffers(type, len(data), [bitmap, buf], null_count=-1 if bitmap else 0)


def with_validity(arr: pa.Array, valid: np.ndarray) -> pa.Array:
    """`arr` with rows that are not `valid` made null (nulls it had stay null)."""
    old = validity(arr)
    if old is not None:
        valid = valid & old
    if valid.all():
        return arr
    if isinstance(arr, pa.DictionaryArray):
        return pa.DictionaryArray.from_arrays(with_validity(arr.indices, valid), arr.dictionary)
    buffers = arr.buffers()
    return pa.Array.from_buffers(arr.type, len(arr), [_bitmap(valid), *buffers[1:]], null_count=-1, offset=arr.offset)


def strings(items: Sequence[str]) -> pa.StringArray:
    encoded = [s.encode("utf-8") for s in items]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def text_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(byte length, start offset, data bytes) of a string array's rows; a null row has length 0 here."""
    n = len(arr)
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    else:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets).astype(np.int64)
    starts = offsets[:-1].astype(np.int64)
    valid = validity(arr)
    if valid is not None:
        lengths[~valid] = 0
    return lengths, starts, data


def window(buf: np.ndarray, width: int) -> np.ndarray:
    """Element i is bytes i..i+width of `buf`: one numpy scatter or gather moves `width` bytes at any offset."""
    return np.ndarray((max(buf.size - width + 1, 0),), dtype=np.dtype((np.void, width)), buffer=buf, strides=(1,))


def gather(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """`width` bytes from each start, as a (rows, width) matrix."""
    return window(data, width)[starts].view(np.uint8).reshape(-1, width)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory() -> None:
    """Let glibc keep freed batch buffers for the next batch; once per process, a no-op elsewhere.

    By default glibc maps large numpy buffers fresh from the kernel and unmaps them on free, so
    each batch pays page faults for memory it held a moment ago: a third of the checking time,
    measured. With these settings buffers under 32 MiB come from the heap, and the heap keeps
    up to 128 MiB free before returning memory. The peak stays that of one batch.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's, linked into the interpreter
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 128 << 20)
