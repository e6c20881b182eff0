"""The model tier: n-grams of the model's own earlier outputs, kept across runs.

What a model wrote before it tends to write again (its phrasings, its code idioms), so every
finished request's output is counted (each n-gram once per answer, as Hierarchy Drafting does)
and used by later requests at once. The table is persisted in the static DB's file format when
the pipeline closes: re-read from disk, merged with this run's counts, cut to its size bound,
and written atomically, so two processes closing one after the other both keep their counts.
The file is a cache: deleting it only costs speed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_spec.bundle import cache_dir
from edge_spec.errors import BundleError

log = logging.getLogger(__name__)

MAX_ORDER = 3
MAX_KEYS = 200_000
PER_KEY = 8


def default_model_db_path(root: Path, manifest) -> Path:  # noqa: ANN001
    """BUNDLE/ngram/model.esng when the bundle is writable, else one per bundle in the cache."""
    here = root / "ngram"
    if os.access(root, os.W_OK) and (not here.exists() or os.access(here, os.W_OK)):
        return here / "model.esng"
    return cache_dir() / "model-ngrams" / f"{manifest.files_digest()}.esng"


class ModelNgramDB:
    """An in-memory n-gram -> next-token-count table, loaded from and saved to PATH."""

    max_order = MAX_ORDER

    def __init__(self, path: Path | None, writable: bool, vocab_size: int = 0, tokenizer_hash: str = ""):
        self.path = path
        self.writable = writable
        self.vocab_size = vocab_size
        self.tokenizer_hash = tokenizer_hash
        self.table: dict[tuple[int, ...], dict[int, int]] = {}
        self.pending: dict[tuple[int, ...], dict[int, int]] = {}
        self._sorted: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def open(cls, path: Path, writable: bool = True, vocab_size: int = 0, tokenizer_hash: str = "") -> ModelNgramDB:
        """Load PATH if it exists (a damaged file is set aside with a warning: it is only a cache)."""
        db = cls(path, writable, vocab_size, tokenizer_hash)
        if path.is_file():
            try:
                db.table = _read_table(path, tokenizer_hash)
            except BundleError as exc:
                log.warning("%s; starting an empty model n-gram DB", exc)
        return db

    def __len__(self) -> int:
        return len(self.table)

    def next_tokens(self, key: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(key)
        hit = self._sorted.get(key)
        if hit is None:
            counts = self.table.get(key)
            if not counts:
                return _EMPTY
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            hit = (np.array([t for t, _ in items], np.int64), np.array([c for _, c in items], np.int64))
            self._sorted[key] = hit
        return hit

    def lookup(self, key: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
        tokens, counts = self.next_tokens(key)
        return tokens, counts, int(counts.sum())

    def learn(self, history: Sequence[int], prompt_len: int) -> None:
        """Count the n-grams that end in the model's output HISTORY[prompt_len:], once each."""
        seen = set()
        for i in range(max(prompt_len, 1), len(history)):
            for n in range(1, min(self.max_order, i) + 1):
                seen.add((tuple(history[i - n : i]), int(history[i])))
        for key, token in seen:
            for table in (self.table, self.pending):
                counts = table.setdefault(key, {})
                counts[token] = counts.get(token, 0) + 1
            self._sorted.pop(key, None)

    def save(self) -> None:
        """Merge this run's counts into the file on disk (re-read now), bounded, atomically."""
        if not self.writable or self.path is None or not self.pending:
            return
        merged: dict[tuple[int, ...], dict[int, int]] = {}
        if self.path.is_file():
            try:
                merged = _read_table(self.path, self.tokenizer_hash)
            except BundleError as exc:
                log.warning("%s; rewriting it", exc)
        for key, counts in self.pending.items():
            into = merged.setdefault(key, {})
            for token, count in counts.items():
                into[token] = into.get(token, 0) + count
        try:
            _write_table(self.path, _bounded(merged), self.vocab_size, self.tokenizer_hash)
        except OSError as exc:
            log.warning("could not save the model n-gram DB to %s (%s)", self.path, exc)
            return
        self.pending = {}
        log.info("model n-gram DB %s: %d keys", self.path, len(merged))


def _bounded(table: dict[tuple[int, ...], dict[int, int]]) -> dict[tuple[int, ...], dict[int, int]]:
    """The MAX_KEYS most used keys, each with its PER_KEY most frequent next tokens."""
    keys = sorted(table, key=lambda k: -sum(table[k].values()))[:MAX_KEYS]
    out = {}
    for key in keys:
        items = sorted(table[key].items(), key=lambda kv: (-kv[1], kv[0]))[:PER_KEY]
        out[key] = dict(items)
    return out


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.int64))


def _read_table(path: Path, tokenizer_hash: str) -> dict[tuple[int, ...], dict[int, int]]:
    from edge_spec.drafters.ngram_static import StaticNgramDB

    with StaticNgramDB.open(path) as db:
        db.require_tokenizer(tokenizer_hash)
        return db.to_dict()


def _write_table(
    path: Path, table: dict[tuple[int, ...], dict[int, int]], vocab_size: int, tokenizer_hash: str
) -> None:
    from edge_spec.drafters.ngram_static import write_table

    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(path, table, max_order=MAX_ORDER, top_k=PER_KEY, vocab_size=vocab_size, tokenizer_hash=tokenizer_hash)
