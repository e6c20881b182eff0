"""Building the static n-gram DB (see ngram_static.py for the file format) from a corpus of text files.

The build streams: files are read one by one (a `.gz` file as the text it holds; binary,
non-UTF-8 and duplicate files skipped, plus whatever `skip` rejects, e.g. the benchmark's
held-out files), tokenized in batches with
the bundle's fast tokenizer, and every (context of 1..max_order tokens, next token) pair is
counted with numpy: each pair is packed into one sortable integer, a chunk's pairs are sorted
and run-length counted, and chunk tables are merged (concatenate, sort, sum equal runs).

Memory stays bounded by `memory_mb`: when the tables pass their share of it they are merged,
and when the merged table is still too big its rarest pairs are dropped (lossy counting: the
smallest count threshold that halves the table). A pair dropped once and seen again later
restarts from zero, so after pruning a count can be low by at most the sum of the thresholds
used (`BuildReport.max_undercount`); with no pruning (`BuildReport.prunes == 0`) the table is
exactly the unbounded count. Frequent pairs, the ones a drafter uses, survive either way.

Files are tokenized whole, except that a file longer than 1 MiB is tokenized in pieces cut at
line ends (the token ids are then joined, so no n-gram is lost; only tokenization right at a
cut can differ). The result does not depend on memory_mb unless pruning happens.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import hashlib
import logging
import os
import stat
import sys
import sysconfig
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_spec.bundle import MANIFEST, load_manifest, sha256_of
from edge_spec.drafters.ngram_static import (
    COUNT_MAX,
    KEY_BITS,
    MAX_ORDER_LIMIT,
    MAX_VOCAB,
    NgramArrays,
    StaticDBHeader,
    write_static_db_file,
)
from edge_spec.errors import BundleError, EdgeSpecError

log = logging.getLogger(__name__)

HELDOUT_MODULUS = 50
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})
PIECE_CHARS = 1 << 20  # longer files are tokenized in pieces of at most this many characters
_SNIFF_BYTES = 8192
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def is_heldout(data: bytes) -> bool:
    """True for the files the benchmark prompts were cut from (shared/bench/README.md).

    Their content's sha1 (hex) satisfies int(sha1[:4], 16) % 50 == 0; they must never fill an
    n-gram DB or train a drafter, or the benchmark would measure memorisation.
    """
    return int(hashlib.sha1(data).hexdigest()[:4], 16) % HELDOUT_MODULUS == 0


def python_stdlib_sources() -> list[Path]:
    """The running interpreter's standard library, as corpus paths (site-packages left out)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise EdgeSpecError(f"{root}: this interpreter's standard library folder is missing")
    return sorted(p for p in root.iterdir() if p.name not in {"site-packages", "dist-packages"})


def resolve_tokenizer_json(path: str | Path) -> Path:
    """The tokenizer.json of a bundle, of a tokenizer folder, or PATH itself if it is that file.

    A bundle's tokenizer.json is checked against the manifest (size and sha256), so the hash
    stored in the DB equals the manifest's and a drafter can compare them without re-hashing.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if (p / MANIFEST).is_file():
        root, manifest = load_manifest(p, verify=False)
        rel = f"{manifest.tokenizer.get('dir', 'tokenizer')}/tokenizer.json"
        tok = root / rel
        if not tok.is_file():
            raise BundleError(f"{tok}: missing from the bundle (a fast tokenizer is required); re-export it")
        entry = manifest.files.get(rel)
        if entry and (tok.stat().st_size != entry["size"] or sha256_of(tok) != entry["sha256"]):
            raise BundleError(f"{tok}: corrupt (checksum mismatch); re-export the bundle")
        return tok
    if (p / "tokenizer.json").is_file():
        return p / "tokenizer.json"
    if not p.exists():
        raise BundleError(f"{p}: no such bundle, tokenizer folder or tokenizer.json")
    raise BundleError(f"{p}: neither an edge-spec bundle nor a folder with a tokenizer.json")


def return_freed_memory_promptly() -> None:
    """glibc only: serve every allocation over 128 KiB with mmap, so freed count tables leave the RSS.

    glibc raises that threshold after large frees (up to 32 MiB); the build's freed tables then
    stay in the heap and peak RSS for the stdlib went from ~400 MB to ~630 MB at --memory-mb 512.
    It is process-wide, so the CLI calls it, not build_static_db. A no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 << 10)


@dataclass(frozen=True)
class CountingBudget:
    """How the build spends memory_mb (numpy count tables; the interpreter and tokenizer come on top).

    A merge holds about twice merge_bytes (it sorts a copy); one chunk being tokenized and
    counted takes ~100 bytes a character; the interpreter, numpy and the tokenizer ~70 MB. Peak
    RSS building from the Python stdlib (12M tokens, CLI): 440 MB at 512 (no pruning needed),
    320 MB at 128 (pruned once).
    """

    chunk_chars: int  # text tokenized and counted in one go
    merge_bytes: int  # the tables are merged into one when they pass this
    keep_bytes: int  # a merged table bigger than this loses its rarest pairs, down to half of it

    @classmethod
    def from_memory_mb(cls, memory_mb: float) -> CountingBudget:
        if not memory_mb > 0:
            raise ValueError(f"memory_mb must be positive, got {memory_mb}")
        total = int(memory_mb * 2**20)
        return cls(
            chunk_chars=min(max(total // 256, 4096), 1 << 20),  # batches over ~0.5 MiB tokenize as fast
            merge_bytes=max(total // 2, 1),
            keep_bytes=max(total // 4, 1),
        )


@dataclass
class BuildProgress:
    """Where a build is, for a progress bar (reported after every file)."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    stage: str = "counting"  # then "writing"


@dataclass
class BuildReport:
    """What a build read, skipped and wrote."""

    path: Path
    files_read: int = 0  # files whose text was counted
    files_skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)  # "binary", "duplicate", "skip rule", ...
    corpus_bytes: int = 0  # bytes of the files read
    tokens: int = 0
    keys: int = 0
    entries: int = 0
    bytes: int = 0  # size of the DB file
    seconds: float = 0.0
    merges: int = 0
    prunes: int = 0  # times the rarest pairs were dropped to stay within memory_mb
    max_undercount: int = 0  # after pruning, a count can be this much below the true count


@dataclass(frozen=True)
class PairCodec:
    """Packs every (context of 1..max_order tokens, next token) pair into sortable integers.

    Narrow (bits > 0): one uint64 per pair, the context and the next token packed `bits` each
    with +1 (so lengths never collide); fits when (max_order + 1) * bits <= 64, e.g. a 49152-token
    vocabulary at max_order 3. Wide (bits == 0): two uint64 columns, [file key, next token],
    sorted with lexsort (several times slower), for bigger vocabularies. Both sort pairs by
    (file key, next token), since both packings order keys by length, then lexicographically.
    """

    max_order: int
    bits: int

    @classmethod
    def for_vocab(cls, vocab_size: int, max_order: int, wide: bool | None = None) -> PairCodec:
        bits = max(int(vocab_size).bit_length(), 1)
        if wide is None:
            wide = (max_order + 1) * bits > 64
        return cls(max_order, 0 if wide else bits)

    @property
    def wide(self) -> bool:
        return self.bits == 0

    @property
    def pair_bytes(self) -> int:
        """Bytes a counted pair takes (codes + uint32 count)."""
        return 20 if self.wide else 12

    def empty(self, n: int = 0) -> np.ndarray:
        """An uninitialised code array for N pairs."""
        return np.empty((n, 2) if self.wide else n, dtype=np.uint64)

    def pair_count(self, length: int, first: int = 0) -> int:
        """How many pairs `encode` finds in LENGTH tokens."""
        return sum(max(0, length - max(n, first)) for n in range(1, self.max_order + 1))

    def encode(self, ids: np.ndarray, first: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """The codes of all pairs in one token sequence whose next token is at index >= first.

        OUT (pair_count rows) receives them if given, so a chunk's codes are built in place.
        """
        v = ids.astype(np.uint64) + np.uint64(1)
        length = len(v)
        codes = self.empty(self.pair_count(length, first)) if out is None else out
        pos = 0
        for n in range(1, self.max_order + 1):
            j0 = max(n, first)  # first index of a next token
            m = length - j0
            if m <= 0:
                continue
            dst = codes[pos : pos + m]
            pos += m
            if self.wide:
                key = dst[:, 0]
                key[:] = v[j0 - n : j0 - n + m]
                for d in range(1, n):
                    key <<= np.uint64(KEY_BITS)
                    key |= v[j0 - n + d : j0 - n + d + m]
                dst[:, 1] = v[j0 : j0 + m] - np.uint64(1)
            else:
                dst[:] = v[j0 - n : j0 - n + m]
                shift = np.uint64(self.bits)
                for d in range(1, n + 1):
                    dst <<= shift
                    dst |= v[j0 - n + d : j0 - n + d + m]
        assert pos == len(codes), (pos, len(codes))
        return codes

    def _order(self, codes: np.ndarray) -> np.ndarray:
        if self.wide:
            return np.lexsort((codes[:, 1], codes[:, 0]))
        return np.argsort(codes)

    def _starts(self, sorted_codes: np.ndarray) -> np.ndarray:
        if len(sorted_codes) == 0:
            return np.empty(0, dtype=np.intp)
        differs = sorted_codes[1:] != sorted_codes[:-1]
        if self.wide:
            differs = differs.any(axis=1)
        return np.flatnonzero(np.concatenate(([True], differs)))

    def count(self, codes: np.ndarray) -> PairTable:
        """Count equal codes: a table sorted by code. Sorts CODES in place (narrow)."""
        if self.wide:
            codes = codes[self._order(codes)]
        else:
            codes.sort()
        starts = self._starts(codes)
        counts = np.diff(np.append(starts, len(codes))).astype(np.uint32)
        return PairTable(codes[starts], counts)

    def merge(self, tables: list[PairTable]) -> PairTable:
        """One table with the counts of equal codes summed. Empties TABLES, to free memory early."""
        if len(tables) == 1:
            return tables.pop()
        codes = np.concatenate([t.codes for t in tables])
        counts = np.concatenate([t.counts for t in tables])
        tables.clear()
        order = self._order(codes)
        codes = codes[order]
        counts = counts[order]
        del order
        starts = self._starts(codes)
        return PairTable(codes[starts], _saturating_sums(counts, starts))

    def contexts(self, codes: np.ndarray) -> np.ndarray:
        """Per code, a number that orders and groups pairs by their key as file keys do."""
        return codes[:, 0] if self.wide else codes >> np.uint64(self.bits)

    def decode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file keys uint64, next tokens int64) of codes."""
        if self.wide:
            return codes[:, 0].copy(), codes[:, 1].astype(np.int64)
        b = np.uint64(self.bits)
        mask = np.uint64((1 << self.bits) - 1)
        nexts = (codes & mask).astype(np.int64) - 1
        context = codes >> b
        keys = np.zeros(len(codes), dtype=np.uint64)
        for g in range(self.max_order):
            keys |= ((context >> np.uint64(self.bits * g)) & mask) << np.uint64(KEY_BITS * g)
        return keys, nexts


@dataclass
class PairTable:
    """Counted pairs: unique codes in sorted order and their counts (uint32, saturating)."""

    codes: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)


class PairCounter:
    """Accumulates pair counts chunk by chunk within a memory budget (see the module docstring)."""

    def __init__(self, codec: PairCodec, budget: CountingBudget):
        self.codec = codec
        self.budget = budget
        self.tables: list[PairTable] = []
        self.pairs = 0  # rows held in self.tables
        self.merges = 0
        self.prunes = 0
        self.max_undercount = 0

    def add(self, sequences: Iterable[tuple[np.ndarray, int]]) -> None:
        """Count the pairs of token sequences, given as (ids, first counted next-token index)."""
        sequences = list(sequences)
        sizes = [self.codec.pair_count(len(ids), first) for ids, first in sequences]
        codes = self.codec.empty(sum(sizes))
        pos = 0
        for (ids, first), size in zip(sequences, sizes):
            self.codec.encode(ids, first, out=codes[pos : pos + size])
            pos += size
        table = self.codec.count(codes)
        del codes
        self.tables.append(table)
        self.pairs += len(table)
        if self.pairs * self.codec.pair_bytes > self.budget.merge_bytes:
            self._merge()
            if self.pairs * self.codec.pair_bytes > self.budget.keep_bytes:
                self._prune(self.budget.keep_bytes // 2)

    def finish(self) -> PairTable:
        """All counts in one table (sorted by code)."""
        if len(self.tables) != 1:
            self._merge()
        return self.tables[0]

    def _merge(self) -> None:
        tables, self.tables = self.tables, []
        merged = self.codec.merge(tables) if tables else PairTable(self.codec.empty(), np.empty(0, np.uint32))
        del tables
        self.tables = [merged]
        self.pairs = len(merged)
        self.merges += 1

    def _prune(self, target_bytes: int) -> None:
        """Drop the pairs with count <= the smallest threshold that brings the table to target_bytes."""
        (table,) = self.tables
        keep = max(target_bytes // self.codec.pair_bytes, 0)
        if len(table) <= keep:
            return
        threshold = int(np.partition(table.counts, len(table) - keep - 1)[len(table) - keep - 1])
        survivors = table.counts > threshold
        self.tables = [PairTable(table.codes[survivors], table.counts[survivors])]
        self.pairs = int(survivors.sum())
        self.prunes += 1
        self.max_undercount += threshold
        log.info("pruned pairs seen <= %d times (%d -> %d pairs)", threshold, len(table), self.pairs)


def select_top_k(codec: PairCodec, table: PairTable, top_k: int, min_count: int) -> NgramArrays:
    """The DB arrays of a counted table: per key the top_k next tokens with count >= min_count.

    Order within a key: count descending, then token id ascending (the deterministic tie-break).
    A key's total is the sum of all its pairs' counts, kept or not. Only the kept pairs are
    decoded, so the peak stays near the size of the table itself.
    """
    codes, counts = table.codes, table.counts
    key_starts = _run_starts(codec.contexts(codes))
    key_totals = _saturating_sums(counts, key_starts)
    kept = np.flatnonzero(counts >= min_count)
    totals = key_totals[np.searchsorted(key_starts, kept, side="right") - 1]
    del key_starts, key_totals
    keys, nexts = codec.decode(codes[kept])
    counts = counts[kept]
    order = np.lexsort((-counts.astype(np.int64), keys))  # stable: equal counts keep the ascending token order
    keys, nexts, counts, totals = keys[order], nexts[order], counts[order], totals[order]
    starts = _run_starts(keys)
    first_of_key = np.zeros(len(keys), dtype=bool)
    first_of_key[starts] = True
    rank = np.arange(len(keys)) - starts[np.cumsum(first_of_key) - 1]
    keep = rank < top_k
    keys, nexts, counts, totals, first_of_key = keys[keep], nexts[keep], counts[keep], totals[keep], first_of_key[keep]
    if len(keys) >= 1 << 32:
        raise EdgeSpecError(f"{len(keys)} entries do not fit the format (2**32 at most); use a smaller corpus")
    return NgramArrays(
        keys=keys[first_of_key].astype(np.uint64),
        offsets=np.append(np.flatnonzero(first_of_key), len(keys)).astype(np.uint32),
        totals=totals[first_of_key],
        tokens=nexts.astype(np.uint32),
        counts=counts,
    )


def _saturating_sums(counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of the runs of uint32 COUNTS beginning at STARTS, capped at 2**32 - 1."""
    if len(starts) == 0:
        return np.empty(0, dtype=np.uint32)
    return np.minimum(np.add.reduceat(counts, starts, dtype=np.uint64), COUNT_MAX).astype(np.uint32)


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values begins."""
    if len(sorted_values) == 0:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))


def build_static_db(
    tokenizer: str | Path,
    sources: Iterable[str | Path],
    out: str | Path,
    max_order: int = 3,
    top_k: int = 4,
    min_count: int = 2,
    memory_mb: float = 512,
    skip: Callable[[bytes], bool] | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
    *,
    budget: CountingBudget | None = None,
) -> BuildReport:
    """Count the n-grams of SOURCES (files, or folders read recursively) and write the DB to OUT.

    TOKENIZER is a tokenizer.json, a folder holding one, or an edge-spec bundle. `skip(data)`
    rejects a file by its bytes (pass `is_heldout` to keep the benchmark's files out). OUT is
    written to a temporary file beside it and renamed at the end, so an error or an interrupt
    leaves nothing half-written. `budget` overrides the split of memory_mb (tests use it).
    """
    started = time.perf_counter()
    if not 1 <= max_order <= MAX_ORDER_LIMIT:
        raise ValueError(f"max_order must be 1..{MAX_ORDER_LIMIT} (keys pack 21 bits a token), got {max_order}")
    if top_k < 1 or min_count < 1:
        raise ValueError(f"top_k and min_count must be >= 1, got {top_k} and {min_count}")
    budget = budget or CountingBudget.from_memory_mb(memory_mb)
    out = Path(out).expanduser()
    _check_writable(out)
    tokenizer_json = resolve_tokenizer_json(tokenizer)
    tok = _load_tokenizer(tokenizer_json)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    if vocab_size >= MAX_VOCAB:
        raise EdgeSpecError(f"{tokenizer_json}: vocabulary of {vocab_size} tokens; n-gram keys hold < {MAX_VOCAB}")
    files, skipped = _discover(sources)
    codec = PairCodec.for_vocab(vocab_size, max_order)
    counter = PairCounter(codec, budget)
    report = BuildReport(path=out)
    reasons: Counter[str] = Counter(skipped)
    state = BuildProgress(0, len(files) + sum(skipped.values()), 0, sum(size for _, size in files))
    state.files_done = sum(skipped.values())
    log.info(
        "counting %d files (%d bytes) with %s, %s pair codes",
        len(files),
        state.bytes_total,
        tokenizer_json,
        "wide" if codec.wide else "narrow",
    )

    texts = _read_texts(files, skip, reasons, report, state, progress)
    for sequences in _tokenized_chunks(tok, texts, budget.chunk_chars, max_order):
        report.tokens += sum(len(ids) - first for ids, first in sequences)
        counter.add(sequences)

    state.stage = "writing"
    if progress:
        progress(state)
    table = counter.finish()
    counter.tables = []
    arrays = select_top_k(codec, table, top_k, min_count)
    del table
    header = StaticDBHeader(
        max_order=max_order,
        top_k=top_k,
        vocab_size=vocab_size,
        min_count=min_count,
        n_keys=len(arrays.keys),
        n_entries=len(arrays.tokens),
        corpus_tokens=report.tokens,
        tokenizer_hash=sha256_of(tokenizer_json),
    )
    _write(out, header, arrays)

    report.skipped_by_reason = dict(reasons)
    report.files_skipped = sum(reasons.values())
    report.keys, report.entries = len(arrays.keys), len(arrays.tokens)
    report.bytes = out.stat().st_size
    report.merges, report.prunes, report.max_undercount = counter.merges, counter.prunes, counter.max_undercount
    report.seconds = time.perf_counter() - started
    log.info(
        "wrote %s: %d keys, %d entries, %d bytes in %.1f s",
        out,
        report.keys,
        report.entries,
        report.bytes,
        report.seconds,
    )
    return report


def _load_tokenizer(path: Path):  # noqa: ANN202 - tokenizers.Tokenizer
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise BundleError(f"{path}: not a loadable tokenizer.json ({str(exc).splitlines()[0]})") from None
    tok.no_truncation()  # a tokenizer.json may ship with truncation/padding on; we want every token
    tok.no_padding()
    return tok


def _discover(sources: Iterable[str | Path]) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """Every regular file under SOURCES, in a stable order, with its size."""
    files: list[tuple[Path, int]] = []
    skipped: Counter[str] = Counter()

    def add(path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            skipped["unreadable"] += 1
            return
        if stat.S_ISREG(st.st_mode):
            files.append((path, st.st_size))
        else:
            skipped["not a regular file"] += 1

    for source in sources:
        root = Path(source).expanduser()
        if root.is_dir():
            for folder, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
                for name in sorted(filenames):
                    add(Path(folder) / name)
        elif root.exists():
            add(root)
        else:
            raise EdgeSpecError(f"{root}: no such file or folder (a corpus is text files or folders of them)")
    return files, skipped


def _read_texts(
    files: list[tuple[Path, int]],
    skip: Callable[[bytes], bool] | None,
    reasons: Counter[str],
    report: BuildReport,
    state: BuildProgress,
    progress: Callable[[BuildProgress], None] | None,
) -> Iterator[tuple[int, str]]:
    """(file number, text) of every usable file; skipped ones are counted by reason."""
    seen: set[bytes] = set()
    for number, (path, size) in enumerate(files):
        text, reason = _read_text(path, seen, skip)
        if reason:
            reasons[reason] += 1
        else:
            report.files_read += 1
            report.corpus_bytes += size
            yield number, text
        state.files_done += 1
        state.bytes_done += size
        if progress:
            progress(state)


def _read_text(path: Path, seen: set[bytes], skip: Callable[[bytes], bool] | None) -> tuple[str, str | None]:
    """The file's text, or ("", why it is skipped). A `.gz` file counts as the text it holds."""
    packed = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if packed else open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
            if b"\0" in head:  # git's heuristic, before reading a large binary file whole
                return "", "binary"
            data = head + f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return "", "damaged gzip"
    except OSError:
        return "", "unreadable"
    if not data:
        return "", "empty"
    if b"\0" in data:
        return "", "binary"
    digest = hashlib.blake2b(data, digest_size=16).digest()
    if digest in seen:
        return "", "duplicate"
    seen.add(digest)
    if skip is not None and skip(data):
        return "", "skip rule"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return "", "not UTF-8"


def split_text(text: str, limit: int) -> list[str]:
    """TEXT in pieces of at most LIMIT characters, cut after a newline where there is one."""
    pieces = []
    start = 0
    while len(text) - start > limit:
        cut = text.rfind("\n", start, start + limit) + 1
        if cut <= start:
            cut = start + limit
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _tokenized_chunks(
    tok, texts: Iterable[tuple[int, str]], chunk_chars: int, max_order: int
) -> Iterator[list[tuple[np.ndarray, int]]]:
    """Token sequences, one chunk of about chunk_chars characters at a time.

    Each sequence is (ids, first): a file's ids, or the part of a file in this chunk with the
    last max_order ids of its previous part in front and `first` = how many ids were put in front,
    so that a file split across chunks is counted exactly as if it were whole.
    """
    pieces: list[str] = []
    owners: list[int] = []
    chars = 0
    carry: tuple[int, np.ndarray] | None = None
    # encode_batch_fast (tokenizers >= 0.21) skips the character offsets we do not use
    encode_batch = getattr(tok, "encode_batch_fast", tok.encode_batch)

    def flush() -> list[tuple[np.ndarray, int]]:
        nonlocal carry
        encodings = encode_batch(pieces, add_special_tokens=False)
        groups: list[tuple[int, list[np.ndarray]]] = []
        for owner, enc in zip(owners, encodings):
            ids = np.array(enc.ids, dtype=np.int64)
            if groups and groups[-1][0] == owner:
                groups[-1][1].append(ids)
            else:
                groups.append((owner, [ids]))
        sequences = []
        for owner, parts in groups:
            first = 0
            if carry is not None and carry[0] == owner:
                parts = [carry[1], *parts]
                first = len(carry[1])
            ids = np.concatenate(parts)
            sequences.append((ids, first))
        last_owner, _ = groups[-1]
        carry = (last_owner, sequences[-1][0][-max_order:].copy())
        pieces.clear()
        owners.clear()
        return sequences

    for owner, text in texts:
        for piece in split_text(text, PIECE_CHARS):
            pieces.append(piece)
            owners.append(owner)
            chars += len(piece)
            if chars >= chunk_chars:
                yield flush()
                chars = 0
    if pieces:
        yield flush()


def _check_writable(out: Path) -> None:
    """Fail before counting, not after, when OUT cannot be written."""
    if out.is_dir():
        raise EdgeSpecError(f"{out}: a directory; -o names the DB file to write (e.g. {out / 'corpus.esng'})")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise EdgeSpecError(f"{out}: cannot write there ({parent} is not a writable folder)")


def _write(out: Path, header: StaticDBHeader, arrays: NgramArrays) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_static_db_file(out, header, arrays)
    except OSError as exc:
        raise EdgeSpecError(f"{out}: cannot be written ({exc.strerror or exc})") from None
