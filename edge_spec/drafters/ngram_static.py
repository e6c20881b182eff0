"""The static n-gram database: a read-only, memory-mapped table from n-grams to likely next tokens.

It is the lowest tier of the n-gram drafter (after the per-request context DB and the persisted
model DB): built offline from a corpus by `edge_spec.drafters.ngram_build` (`edge-spec ngram
build`), then mapped, never parsed, so opening a 100 MB file costs one checksum pass and a
lookup costs a binary search (a few microseconds).

File format, version 1 (all integers little-endian; our own layout, no pickle):

    offset  size  field
         0     8  magic b"ESNGRAM\\0"
         8     4  format version (u32) = 1; a reader refuses a newer one
        12     4  header size (u32) = 192: where the first array starts
        16     4  max_order (u32): longest key, 1..3 tokens
        20     4  top_k (u32): next tokens kept per key (at most)
        24     4  vocab_size (u32): every token id is < vocab_size < 2**21 - 1
        28     4  key bits (u32) = 21: bits per token in a packed key
        32     4  min_count (u32): the smallest count kept when it was built
        36     4  reserved (0)
        40     8  n_keys (u64)
        48     8  n_entries (u64)
        56     8  file size (u64): the whole file, so truncation is caught before hashing
        64     8  corpus tokens (u64): how many tokens it was counted from
        72    32  sha256 of the tokenizer.json it was built with (raw digest)
       104    32  checksum: sha256 of the whole file with these 32 bytes zeroed
       136    56  reserved (zeros, covered by the checksum) up to the header size

    then five arrays, each starting at a multiple of 64 bytes (zero padding in between):

        keys     u64[n_keys]      sorted ascending, unique
        offsets  u32[n_keys + 1]  entries of keys[i] are offsets[i]:offsets[i+1]; offsets[-1] = n_entries
        totals   u32[n_keys]      how often the key was followed by any token (kept or not), so a
                                  drafter can tell a clear favourite from the best of many
        tokens   u32[n_entries]   next tokens, per key by count descending, then token id ascending
        counts   u32[n_entries]   how often each next token followed the key
    (counts and totals saturate at 2**32 - 1).

A key packs its tokens 21 bits each with a +1 offset, first token highest:
key(t1..tn) = sum((t_i + 1) << 21 * (n - i)). The +1 keeps every group non-zero, so keys of
different lengths never collide and sort by length first. Three tokens fill 63 bits, hence
max_order <= 3.

An all-zero tokenizer hash means "unknown" (read back as ""). The model tier (ngram_model.py)
keeps its persisted table in this same format, written with `write_table`.

The checksum is sha256 because it is cheap enough: with SHA extensions it hashes ~1.2 GB/s
(0.09 s for 100 MB here), and ~0.4 s per 100 MB without them; it runs once per `open`.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge_spec.errors import BundleError

MAGIC = b"ESNGRAM\0"
FORMAT_VERSION = 1
HEADER_SIZE = 192
KEY_BITS = 21
MAX_ORDER_LIMIT = 64 // KEY_BITS  # 3
MAX_VOCAB = (1 << KEY_BITS) - 1  # vocab_size must be below this, so token + 1 fits in 21 bits
ALIGN = 64
COUNT_MAX = (1 << 32) - 1

_FIELDS = struct.Struct("<8sIIIIIIIIQQQQ32s32s")
_CHECKSUM_AT = 104
_CHECKSUM_LEN = 32
_HASH_CHUNK = 1 << 24
_KEY_MASK = (1 << KEY_BITS) - 1
_DTYPES = (np.dtype("<u8"), np.dtype("<u4"), np.dtype("<u4"), np.dtype("<u4"), np.dtype("<u4"))
_REBUILD = "rebuild it with `edge-spec ngram build`"

assert _FIELDS.size == 136 and _FIELDS.size <= HEADER_SIZE


@dataclass(frozen=True)
class StaticDBHeader:
    """The header fields of an n-gram DB file."""

    max_order: int
    top_k: int
    vocab_size: int
    min_count: int
    n_keys: int
    n_entries: int
    corpus_tokens: int
    tokenizer_hash: str  # hex sha256 of tokenizer.json ("" = unknown)
    version: int = FORMAT_VERSION
    file_size: int = 0
    checksum: str = ""  # hex; set by the writer, read from the file


@dataclass
class NgramArrays:
    """The five arrays of a DB (see the module docstring), ready to write."""

    keys: np.ndarray  # uint64[n_keys], sorted, unique
    offsets: np.ndarray  # uint32[n_keys + 1]
    totals: np.ndarray  # uint32[n_keys]
    tokens: np.ndarray  # uint32[n_entries]
    counts: np.ndarray  # uint32[n_entries]

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        return (self.keys, self.offsets, self.totals, self.tokens, self.counts)


def pack_key(tokens: Sequence[int]) -> int:
    """The packed 64-bit key of an n-gram (no range checks: callers check ids first)."""
    key = 0
    for t in tokens:
        key = (key << KEY_BITS) | (int(t) + 1)
    return key


def unpack_key(key: int) -> tuple[int, ...]:
    """The token ids of a packed key."""
    key = int(key)
    tokens = []
    while key:
        tokens.append((key & _KEY_MASK) - 1)
        key >>= KEY_BITS
    return tuple(reversed(tokens))


def write_static_db(f: BinaryIO, header: StaticDBHeader, arrays: NgramArrays) -> StaticDBHeader:
    """Write a DB to an open binary file positioned at 0; return the header with size and checksum.

    The arrays must already satisfy the format (sorted unique keys, monotone offsets, ...); the
    builders guarantee that. Placing the file atomically is `write_static_db_file`'s job.
    """
    n_keys, n_entries = len(arrays.keys), len(arrays.tokens)
    _, file_size = _layout(n_keys, n_entries)
    header = replace(header, n_keys=n_keys, n_entries=n_entries, file_size=file_size)
    digest = hashlib.sha256()
    head = _pack_header(header, bytes(_CHECKSUM_LEN))
    f.write(head)
    digest.update(head)
    pos = HEADER_SIZE
    for array, dtype in zip(arrays.as_tuple(), _DTYPES):
        pad = -pos % ALIGN
        data = np.ascontiguousarray(array, dtype=dtype)
        for piece in (bytes(pad), memoryview(data).cast("B")):
            f.write(piece)
            digest.update(piece)
        pos += pad + data.nbytes
    assert pos == file_size, (pos, file_size)
    checksum = digest.digest()
    f.seek(0)
    f.write(_pack_header(header, checksum))
    f.seek(0, os.SEEK_END)
    return replace(header, checksum=checksum.hex())


def write_static_db_file(path: Path, header: StaticDBHeader, arrays: NgramArrays) -> StaticDBHeader:
    """Write a DB to PATH via a temporary file beside it and a rename: never half-written."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.partial"
    # os.open, not mkstemp: the DB gets the umask's permissions (mkstemp's are owner-only)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            written = write_static_db(f, header, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def arrays_from_dict(table: Mapping[Sequence[int], Mapping[int, int]], top_k: int) -> NgramArrays:
    """The DB arrays of a {key tokens: {next token: count}} table (top_k per key, count > 0)."""
    rows = sorted((pack_key(key), nexts) for key, nexts in table.items() if any(c > 0 for c in nexts.values()))
    offsets = [0]
    totals, tokens, counts = [], [], []
    for _, nexts in rows:
        best = sorted(((t, c) for t, c in nexts.items() if c > 0), key=lambda tc: (-tc[1], tc[0]))[:top_k]
        tokens += [t for t, _ in best]
        counts += [min(c, COUNT_MAX) for _, c in best]
        totals.append(min(sum(nexts.values()), COUNT_MAX))
        offsets.append(len(tokens))
    return NgramArrays(
        keys=np.array([k for k, _ in rows], dtype=np.uint64),
        offsets=np.array(offsets, dtype=np.uint32),
        totals=np.array(totals, dtype=np.uint32),
        tokens=np.array(tokens, dtype=np.uint32),
        counts=np.array(counts, dtype=np.uint32),
    )


def write_table(
    path: str | Path,
    table: Mapping[Sequence[int], Mapping[int, int]],
    max_order: int,
    top_k: int,
    vocab_size: int,
    tokenizer_hash: str,
    min_count: int = 1,
    corpus_tokens: int = 0,
) -> StaticDBHeader:
    """Write a small {key tokens: {next token: count}} table as a DB file, atomically.

    For tables built in Python (the model tier's); corpora go through ngram_build. Keys must
    have 1..max_order tokens. vocab_size is raised to the largest id + 1 if it is smaller.
    """
    ids = [t for key, nexts in table.items() for t in (*key, *nexts)]
    vocab_size = max(vocab_size, max(ids, default=0) + 1)
    if not 1 <= max_order <= MAX_ORDER_LIMIT or vocab_size >= MAX_VOCAB or min(ids, default=0) < 0:
        raise ValueError(f"cannot store max_order {max_order} / ids up to {vocab_size - 1} (< {MAX_VOCAB}, >= 0)")
    if any(not 1 <= len(key) <= max_order for key in table):
        raise ValueError(f"n-gram keys must have 1..{max_order} tokens")
    header = StaticDBHeader(
        max_order=max_order,
        top_k=top_k,
        vocab_size=vocab_size,
        min_count=min_count,
        n_keys=0,
        n_entries=0,
        corpus_tokens=corpus_tokens,
        tokenizer_hash=tokenizer_hash,
    )
    return write_static_db_file(Path(path), header, arrays_from_dict(table, top_k))


class StaticNgramDB:
    """A memory-mapped, read-only table: n-gram (1..max_order tokens) -> its most frequent next tokens.

    Open with `StaticNgramDB.open(path)`. Lookups are a binary search on the sorted key array:
    no Python loop over the table, no copy of it. One instance may be shared by threads.
    """

    def __init__(self, path: Path, header: StaticDBHeader, mm: mmap.mmap, arrays: tuple[np.ndarray, ...]):
        self.path = path
        self.header = header
        self.max_order = header.max_order
        self.top_k = header.top_k
        self.vocab_size = header.vocab_size
        self.tokenizer_hash = header.tokenizer_hash
        self._mmap = mm
        self._keys, self._offsets, self._totals, self._tokens, self._counts = arrays

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> StaticNgramDB:
        """Map PATH and validate it (header, sizes and, with verify, the sha256 checksum).

        Raises BundleError naming the file for a missing, truncated, corrupt, foreign or
        newer-version file.
        """
        path = Path(path).expanduser()
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < HEADER_SIZE:
                    raise BundleError(f"{path}: truncated ({size} bytes, shorter than the header); {_REBUILD}")
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise BundleError(f"{path}: no such n-gram DB; build one with `edge-spec ngram build`") from None
        except IsADirectoryError:
            raise BundleError(f"{path}: a directory, not an n-gram DB file (made by `edge-spec ngram build`)") from None
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path}: cannot be read ({exc})") from None
        try:
            header = _parse_header(path, mm, size)
            if verify:
                _verify_checksum(path, mm, header)
            arrays = _map_arrays(path, mm, header)
        except BaseException:
            with contextlib.suppress(BufferError):
                mm.close()
            raise
        return cls(path, header, mm, arrays)

    def next_tokens(self, key: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The next tokens seen after KEY (1..max_order token ids), with their counts.

        Returns (tokens int64[k], counts int64[k]), k <= top_k, by count descending (ties: lower
        token id first); two empty arrays when the key was never seen (or holds an id outside
        the vocabulary). A key of another length is a caller bug: ValueError.
        """
        i = self._find(key)
        if i < 0:
            return _empty(), _empty()
        start, stop = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._tokens[start:stop].astype(np.int64), self._counts[start:stop].astype(np.int64)

    def lookup(self, key: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
        """next_tokens(KEY) plus how often KEY was followed by any token (0 when unseen).

        counts / total is a next token's true share; counts / counts.sum() overrates it when
        the key had more than top_k different continuations.
        """
        i = self._find(key)
        if i < 0:
            return _empty(), _empty(), 0
        start, stop = int(self._offsets[i]), int(self._offsets[i + 1])
        tokens, counts = self._tokens[start:stop].astype(np.int64), self._counts[start:stop].astype(np.int64)
        return tokens, counts, int(self._totals[i])

    def _find(self, key: Sequence[int]) -> int:
        """The row of KEY, or -1."""
        n = len(key)
        if not 1 <= n <= self.max_order:
            raise ValueError(f"an n-gram key has 1..{self.max_order} tokens, got {n}")
        packed = 0
        vocab = self.vocab_size
        for t in key:
            t = int(t)
            if not 0 <= t < vocab:
                return -1
            packed = (packed << KEY_BITS) | (t + 1)
        packed_u64 = np.uint64(packed)  # a Python int could be compared as float64 by old numpy
        keys = self._keys
        i = int(keys.searchsorted(packed_u64))
        if i == len(keys) or keys[i] != packed_u64:
            return -1
        return i

    def require_tokenizer(self, tokenizer_hash: str) -> None:
        """Refuse (BundleError) when this DB was built with another tokenizer.json (hex sha256)."""
        if self.tokenizer_hash and tokenizer_hash.lower() != self.tokenizer_hash:
            raise BundleError(
                f"{self.path}: built for another tokenizer (sha256 {self.tokenizer_hash[:12]}..., this one "
                f"{tokenizer_hash[:12]}...); rebuild it with `edge-spec ngram build` for this model"
            )

    def to_dict(self) -> dict[tuple[int, ...], dict[int, int]]:
        """The whole table as {key tokens: {next token: count}} (a Python loop: small DBs only)."""
        offsets = self._offsets.tolist()
        tokens, counts = self._tokens.tolist(), self._counts.tolist()
        return {
            unpack_key(key): dict(zip(tokens[offsets[i] : offsets[i + 1]], counts[offsets[i] : offsets[i + 1]]))
            for i, key in enumerate(self._keys.tolist())
        }

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return (
            f"StaticNgramDB({str(self.path)!r}, keys={len(self)}, max_order={self.max_order}, top_k={self.top_k}, "
            f"vocab_size={self.vocab_size})"
        )

    def close(self) -> None:
        """Unmap the file (the DB is empty afterwards). Dropping the object does the same."""
        empty = np.empty(0, np.uint32)
        self._keys, self._offsets, self._totals, self._tokens, self._counts = (
            np.empty(0, np.uint64),
            np.zeros(1, np.uint32),
            empty,
            empty,
            empty,
        )
        with contextlib.suppress(BufferError):  # something still views the map; GC unmaps it later
            self._mmap.close()

    def __enter__(self) -> StaticNgramDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_header(path: str | Path, verify: bool = True) -> StaticDBHeader:
    """The header of a DB file, validated (and, with verify, its checksum checked)."""
    with StaticNgramDB.open(path, verify=verify) as db:
        return db.header


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _layout(n_keys: int, n_entries: int) -> tuple[list[tuple[int, int]], int]:
    """(offset, byte length) of keys, offsets, totals, tokens, counts; and the file size."""
    lengths = (n_keys, n_keys + 1, n_keys, n_entries, n_entries)
    sections = []
    pos = HEADER_SIZE
    for dtype, n in zip(_DTYPES, lengths):
        pos = -(-pos // ALIGN) * ALIGN
        sections.append((pos, n * dtype.itemsize))
        pos += n * dtype.itemsize
    return sections, pos


def _pack_header(h: StaticDBHeader, checksum: bytes) -> bytes:
    fields = _FIELDS.pack(
        MAGIC,
        h.version,
        HEADER_SIZE,
        h.max_order,
        h.top_k,
        h.vocab_size,
        KEY_BITS,
        h.min_count,
        0,
        h.n_keys,
        h.n_entries,
        h.file_size,
        h.corpus_tokens,
        bytes.fromhex(h.tokenizer_hash),
        checksum,
    )
    return fields + bytes(HEADER_SIZE - len(fields))


def _parse_header(path: Path, mm: mmap.mmap, size: int) -> StaticDBHeader:
    (
        magic,
        version,
        header_size,
        max_order,
        top_k,
        vocab_size,
        key_bits,
        min_count,
        _reserved,
        n_keys,
        n_entries,
        file_size,
        corpus_tokens,
        tokenizer_hash,
        checksum,
    ) = _FIELDS.unpack_from(mm, 0)
    if magic != MAGIC:
        raise BundleError(f"{path}: not an edge-spec n-gram DB (bad magic {magic!r}); {_REBUILD}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: n-gram DB format version {version} is newer than this edge-spec reads "
            f"({FORMAT_VERSION}); upgrade edge-spec"
        )
    problems = []
    if version < 1:
        problems.append(f"version {version}")
    if header_size != HEADER_SIZE or key_bits != KEY_BITS:
        problems.append(f"header size {header_size}, key bits {key_bits}")
    if not 1 <= max_order <= MAX_ORDER_LIMIT or top_k < 1 or not 0 < vocab_size < MAX_VOCAB:
        problems.append(f"max_order {max_order}, top_k {top_k}, vocab {vocab_size}")
    if problems:
        raise BundleError(f"{path}: corrupt header ({'; '.join(problems)}); {_REBUILD}")
    _, expected = _layout(n_keys, n_entries)
    if file_size != expected:
        raise BundleError(f"{path}: corrupt header (sizes disagree: {file_size} != {expected}); {_REBUILD}")
    if size < expected:
        raise BundleError(f"{path}: truncated ({size} bytes, expected {expected}); {_REBUILD}")
    if size > expected:
        raise BundleError(f"{path}: corrupt ({size} bytes, expected {expected}); {_REBUILD}")
    return StaticDBHeader(
        max_order=max_order,
        top_k=top_k,
        vocab_size=vocab_size,
        min_count=min_count,
        n_keys=n_keys,
        n_entries=n_entries,
        corpus_tokens=corpus_tokens,
        tokenizer_hash=tokenizer_hash.hex() if any(tokenizer_hash) else "",
        version=version,
        file_size=file_size,
        checksum=checksum.hex(),
    )


def _verify_checksum(path: Path, mm: mmap.mmap, header: StaticDBHeader) -> None:
    digest = hashlib.sha256()
    with memoryview(mm) as view:
        digest.update(view[:_CHECKSUM_AT])
        digest.update(bytes(_CHECKSUM_LEN))
        for start in range(_CHECKSUM_AT + _CHECKSUM_LEN, len(view), _HASH_CHUNK):
            with view[start : start + _HASH_CHUNK] as piece:
                digest.update(piece)
    if digest.hexdigest() != header.checksum:
        raise BundleError(f"{path}: corrupt (checksum mismatch); {_REBUILD}")


def _map_arrays(path: Path, mm: mmap.mmap, header: StaticDBHeader) -> tuple[np.ndarray, ...]:
    sections, _ = _layout(header.n_keys, header.n_entries)
    arrays = tuple(
        np.frombuffer(mm, dtype=dtype, count=length // dtype.itemsize, offset=offset)
        for (offset, length), dtype in zip(sections, _DTYPES)
    )
    offsets = arrays[1]
    if offsets[0] != 0 or offsets[-1] != header.n_entries:
        raise BundleError(f"{path}: corrupt (entry offsets do not span the table); {_REBUILD}")
    return arrays
