"""The training corpus: files read one at a time, tokenized, and stored as token files on disk.

A scan walks the sources in a stable order, skips binary, non-UTF-8, empty and duplicate files
(by content hash) and, with skip_heldout, the benchmark's held-out files (sha1 rule, see
edge_spec.drafters.ngram_build.is_heldout). Held-out files and a seeded 1-in-50 reserve of the
other files make the evaluation pool: never trained on, they give the held-out prompts of the
acceptance report. Every other file goes to the training pool.

Each pool is a TokenStore: the documents' token ids one after another (each followed by EOS),
raw little-endian (uint16 when the vocabulary fits) in `<name>.tokens`, and the documents' start
offsets in `<name>.docs` (int64). Nothing is pickled and nothing holds the corpus in memory: the
scan appends file by file and training reads through a memory map.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import sysconfig
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_spec.drafters.ngram_build import is_heldout, split_text
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache"}
)
SITE_DIRS = frozenset({"site-packages", "dist-packages"})
EVAL_RESERVE_MODULUS = 50  # one file in 50 (at least one) is kept aside for evaluation
PIECE_CHARS = 1 << 20  # longer files are tokenized in pieces cut at line ends
SCAN_FILE = "corpus.json"


def default_corpus() -> list[Path]:
    """The .py files of the running interpreter's standard library (site-packages left out)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise EdgeSpecError(f"{root}: this interpreter's standard library folder is missing; pass --corpus")
    files = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS | SITE_DIRS)
        files.extend(Path(folder) / name for name in sorted(filenames) if name.endswith(".py"))
    return files


def discover_files(sources: Iterable[str | Path]) -> list[Path]:
    """Every regular file under SOURCES (files, or folders read recursively), in a stable order."""
    files: list[Path] = []
    for source in sources:
        root = Path(source).expanduser()
        if root.is_dir():
            for folder, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
                files.extend(Path(folder) / name for name in sorted(filenames))
        elif root.exists():
            files.append(root)
        else:
            raise EdgeSpecError(f"{root}: no such file or folder (a corpus is text files or folders of them)")
    return [f for f in files if _is_regular(f)]


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def read_corpus_file(path: Path, seen: set[bytes]) -> tuple[bytes, str | None]:
    """The file's bytes, or (b"", why it is skipped); SEEN collects content hashes for dedup."""
    try:
        data = path.read_bytes()
    except OSError:
        return b"", "unreadable"
    if not data.strip():
        return b"", "empty"
    if b"\0" in data:
        return b"", "binary"
    digest = hashlib.blake2b(data, digest_size=16).digest()
    if digest in seen:
        return b"", "duplicate"
    seen.add(digest)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return b"", "not UTF-8"
    return data, None


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class TokenStoreWriter:
    """Appends documents to `<dir>/<name>.tokens`; `close()` writes the offsets and returns the count."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype, separator: int | None):
        self.tokens_path = directory / f"{name}.tokens"
        self.docs_path = directory / f"{name}.docs"
        self.dtype = dtype
        self.separator = separator
        self.offsets: list[int] = []
        self.count = 0
        self._file = open(self.tokens_path, "wb")  # noqa: SIM115 - closed in close()

    def append(self, ids: list[int]) -> None:
        if self.separator is not None:
            ids = [*ids, self.separator]
        self.offsets.append(self.count)
        self._file.write(np.asarray(ids, dtype=self.dtype).tobytes())
        self.count += len(ids)

    def close(self) -> int:
        self._file.close()
        np.asarray([*self.offsets, self.count], dtype="<i8").tofile(self.docs_path)
        return self.count


class TokenStore:
    """A token file and its document offsets, read through a memory map."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype):
        tokens_path = directory / f"{name}.tokens"
        self.offsets = np.fromfile(directory / f"{name}.docs", dtype="<i8")
        size = int(self.offsets[-1]) if len(self.offsets) else 0
        self.tokens = np.memmap(tokens_path, dtype=dtype, mode="r", shape=(size,)) if size else np.zeros(0, dtype=dtype)

    @property
    def n_docs(self) -> int:
        return max(len(self.offsets) - 1, 0)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def doc(self, index: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[index] : self.offsets[index + 1]], dtype=np.int64)

    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class CorpusStats:
    """What a scan read, skipped and stored."""

    sources: list[str] = field(default_factory=list)
    files_seen: int = 0
    train_files: int = 0
    eval_files: int = 0
    heldout_files: int = 0  # files the sha1 rule holds out (evaluation only when skip_heldout)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    bytes_read: int = 0
    train_tokens: int = 0
    eval_tokens: int = 0
    dtype: str = "<u2"
    complete: bool = False

    @classmethod
    def load(cls, directory: Path) -> CorpusStats | None:
        path = directory / SCAN_FILE
        if not path.is_file():
            return None
        stats = cls(**json.loads(path.read_text(encoding="utf-8")))
        return stats if stats.complete else None

    def save(self, directory: Path) -> None:
        tmp = directory / (SCAN_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(directory / SCAN_FILE)


def eval_reserve(n_files: int, seed: int) -> set[int]:
    """Indices of the files kept aside for evaluation: a seeded 1 in 50, at least one of two or more."""
    if n_files < 2:
        return set()
    count = max(1, n_files // EVAL_RESERVE_MODULUS)
    rng = np.random.default_rng([seed, 0xE5A1])
    return {int(i) for i in rng.choice(n_files, size=count, replace=False)}


def scan_corpus(
    files: list[Path],
    tokenizer_json: Path,
    out_dir: Path,
    *,
    vocab_size: int,
    separator: int | None,
    skip_heldout: bool,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    labels: Iterable[str] = (),
) -> CorpusStats:
    """Tokenize FILES into the `train` and `eval` token stores in OUT_DIR; raise on an empty corpus."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out_dir.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(vocab_size)
    stats = CorpusStats(sources=list(labels), files_seen=len(files), dtype=dtype.str)
    reasons: Counter[str] = Counter()
    reserve = eval_reserve(len(files), seed)
    seen: set[bytes] = set()
    train = TokenStoreWriter(out_dir, "train", dtype, separator)
    held = TokenStoreWriter(out_dir, "eval", dtype, separator)
    try:
        for number, path in enumerate(files):
            data, reason = read_corpus_file(path, seen)
            if reason:
                reasons[reason] += 1
            else:
                heldout = is_heldout(data)
                stats.heldout_files += heldout
                to_eval = (heldout and skip_heldout) or number in reserve
                if heldout and skip_heldout:
                    reasons["held out (evaluation only)"] += 1
                ids = _tokenize(tokenizer, data.decode("utf-8"))
                if ids:
                    (held if to_eval else train).append(ids)
                    if to_eval:
                        stats.eval_files += 1
                    else:
                        stats.train_files += 1
                    stats.bytes_read += len(data)
            if progress:
                progress(number + 1, len(files))
    finally:
        stats.train_tokens = train.close()
        stats.eval_tokens = held.close()
    stats.skipped = dict(sorted(reasons.items()))
    if not stats.train_tokens:
        why = ", ".join(f"{n} {r}" for r, n in stats.skipped.items()) or "no files"
        raise EdgeSpecError(f"the corpus has no usable text to train on ({len(files)} files: {why})")
    stats.complete = True
    stats.save(out_dir)
    log.info(
        "corpus: %d training files (%d tokens), %d evaluation files (%d tokens), skipped %s",
        stats.train_files,
        stats.train_tokens,
        stats.eval_files,
        stats.eval_tokens,
        stats.skipped,
    )
    return stats


def _tokenize(tokenizer, text: str) -> list[int]:  # noqa: ANN001 - tokenizers.Tokenizer
    ids: list[int] = []
    for encoding in tokenizer.encode_batch(split_text(text, PIECE_CHARS), add_special_tokens=False):
        ids.extend(encoding.ids)
    return ids
