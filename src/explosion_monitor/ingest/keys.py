"""Duplicate keys within a file, found while it streams, in flat memory.

Every loaded key is hashed to 64 bits (vectorised; random odd multipliers per 8-byte word, fresh
per file). Up to BUFFERED hashes stay in memory; beyond that they are spilled to bucket files by
their top bits, so memory does not grow with the file, and at the end each bucket is checked on
its own. Two equal hashes only mean *possibly* equal keys: the caller confirms with an exact
query. With 64-bit hashes a false alarm is about n²/2⁶⁵ (one in a million for five million
rows), so the exact query almost never runs on a clean file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from explosion_monitor.ingest.arrays import from_values, gather, text_parts

BUCKET_BITS = 6
BUFFERED = 1 << 19  # 4 MiB of hashes
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _repeats(hashes: np.ndarray) -> bool:
    """Whether a value occurs twice: pyarrow's hash-based count, cheaper than sorting."""
    return pc.count_distinct(from_values(hashes, pa.uint64())).as_py() < len(hashes)


def _mix(h: np.ndarray) -> np.ndarray:
    """A bijective finaliser (splitmix64), so buckets and equality use well-spread bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class KeyHashes:
    """The hashes of one file's keys; a context manager that removes its spill files."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng()
        self._weights = np.zeros(0, dtype=np.uint64)
        self._buffer = np.empty(BUFFERED, dtype=np.uint64)
        self._buffered = 0
        self._dir: tempfile.TemporaryDirectory | None = None
        self._files: list = []
        self.count = 0

    def _weights_for(self, length: int) -> np.ndarray:
        if length > len(self._weights):
            more = self._rng.integers(1, 2**63, size=length - len(self._weights), dtype=np.uint64) * 2 + 1
            self._weights = np.concatenate([self._weights, more])
        return self._weights[:length]

    def _hash_text(self, arr: pa.Array) -> np.ndarray:
        lengths, starts, data = text_parts(arr)
        h = lengths.astype(np.uint64) * _MIX  # the length tells "ab" from "ab\0"
        for length in np.flatnonzero(np.bincount(lengths)):
            if not length:
                continue
            rows = np.flatnonzero(lengths == length)
            # The bytes as 64-bit words (zero-padded), each times its own random odd weight.
            words = -(-int(length) // 8)
            padded = np.zeros((len(rows), 8 * words), dtype=np.uint8)
            padded[:, :length] = gather(data, starts[rows], int(length))
            h[rows] += (padded.view(np.uint64) * self._weights_for(words)).sum(axis=1, dtype=np.uint64)
        return h

    def add(self, keys: Sequence[pa.Array]) -> None:
        """Hash the rows of these key columns (normalised text, no nulls)."""
        h = np.zeros(len(keys[0]), dtype=np.uint64)
        for column in keys:
            h = _mix(h * _MIX + self._hash_text(column))
        self.count += len(h)
        while len(h):
            take = min(len(h), BUFFERED - self._buffered)
            self._buffer[self._buffered : self._buffered + take] = h[:take]
            self._buffered += take
            h = h[take:]
            if self._buffered == BUFFERED:
                self._spill()

    def _spill(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="em-keys-")
            # open for the object's life, closed in close(): a with-block cannot span the spills
            self._files = [open(Path(self._dir.name) / f"{i:02x}", "wb") for i in range(1 << BUCKET_BITS)]  # noqa: SIM115
        h = self._buffer[: self._buffered]
        bucket = (h >> np.uint64(64 - BUCKET_BITS)).astype(np.uint8)
        order = np.argsort(bucket, kind="stable")  # a counting sort on one byte
        cuts = np.cumsum(np.bincount(bucket, minlength=1 << BUCKET_BITS))[:-1]
        for fh, rows in zip(self._files, np.split(order, cuts), strict=True):
            h[rows].tofile(fh)
        self._buffered = 0

    def possible_duplicates(self) -> bool:
        """Whether any two added keys have the same hash; reads one bucket at a time."""
        if self._dir is None:
            return _repeats(self._buffer[: self._buffered])
        self._spill()
        for fh in self._files:
            fh.close()
        return any(_repeats(np.fromfile(fh.name, dtype=np.uint64)) for fh in self._files)

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> KeyHashes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
