"""The draft's reduced vocabulary (FR-Spec): which target tokens its embedding and tied head cover.

With the target's 49152-token vocabulary the head is most of a small draft's cost, in training
as at run time. `--head-vocab N` gives the draft N ids instead (edge_spec/drafters/draft_vocab.py):
the N - 1 target tokens most frequent in the training pool, the target's special tokens always
among them (EOS and the chat template's turn markers are rare in a code corpus but are what the
draft must propose at the end of a sample or a turn), and one 'other' slot that every remaining
target token is fed as. Training never scores a label that falls in the other slot: the draft
must not learn to propose a token the runtime can never map back.

The vocabulary is built right after the corpus scan (it depends on the training tokens only, so
it is deterministic) and kept in the run's data dir for later sessions; the finished draft dir
gets a copy next to its config.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_spec.drafters.draft_vocab import VOCAB_FILE, DraftVocabulary
from edge_spec.errors import EdgeSpecError
from edge_spec.train.corpus import TokenStore
from edge_spec.train.lm_loss import IGNORE

log = logging.getLogger(__name__)

AUTO_SIZE = 8192  # the automatic draft vocabulary of a large-vocabulary target
AUTO_ABOVE = 16384  # targets with a vocabulary up to this size keep it whole
COUNT_CHUNK = 1 << 24  # tokens counted at a time (the store is a memory map; keep memory flat)


def resolve_head_vocab(requested: int | None, target_vocab: int) -> int:
    """The draft vocabulary size to build: 0 is the target's whole vocabulary (no map).

    None picks AUTO_SIZE for targets whose vocabulary is larger than AUTO_ABOVE, else 0.
    """
    if requested is None:
        return AUTO_SIZE if target_vocab > AUTO_ABOVE else 0
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
        raise EdgeSpecError(f"--head-vocab {requested}: must be 0 (the full vocabulary) or 2..{target_vocab}")
    if requested and not 2 <= requested <= target_vocab:
        raise EdgeSpecError(
            f"--head-vocab {requested}: must be 0 (the full vocabulary) or 2..{target_vocab} "
            "(the target's vocabulary size)"
        )
    return requested


def special_token_ids(tokenizer_json: Path, config: Any, extra: Iterable[int] = ()) -> list[int]:
    """The target's special ids: config bos/eos/pad, EXTRA, and every added token of its tokenizer.

    Added tokens are the chat template's markers and the like: rare in a corpus, but the draft has
    to propose them (a turn ends with <|im_end|>), so the reduced vocabulary always keeps them.
    """
    from tokenizers import Tokenizer

    ids = set(int(i) for i in extra)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        value = getattr(config, name, None)
        if value is not None:
            ids.update(int(i) for i in (value if isinstance(value, (list, tuple)) else [value]))
    ids.update(int(i) for i in Tokenizer.from_file(str(tokenizer_json)).get_added_tokens_decoder())
    return sorted(i for i in ids if 0 <= i < config.vocab_size)


def token_counts(store: TokenStore, vocab_size: int) -> np.ndarray:
    """How often each token id occurs in STORE (a chunk at a time through its memory map)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, store.n_tokens, COUNT_CHUNK):
        chunk = np.asarray(store.tokens[start : start + COUNT_CHUNK])
        counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
    return counts


def build_draft_vocab(
    store: TokenStore, size: int, vocab_size: int, always: list[int], data_dir: Path
) -> tuple[DraftVocabulary, dict[str, Any]]:
    """The SIZE-id vocabulary of STORE's most frequent tokens (ALWAYS kept), saved in DATA_DIR.

    Returns it and what the recipe records: the size, how many special ids it keeps and the
    fraction of training tokens it covers (the rest are fed as the 'other' slot).
    """
    counts = token_counts(store, vocab_size)
    vocab = DraftVocabulary.most_frequent(counts, size, always=always)
    vocab.save(data_dir / VOCAB_FILE)
    covered = int(counts[vocab.covers(np.arange(vocab_size))].sum())
    total = int(counts.sum())
    info = {
        "size": size,
        "special_ids": len(always),
        "coverage": covered / total if total else 0.0,
        "training_tokens": total,
    }
    log.info("draft vocabulary: %d ids cover %.4f of the training tokens", size, info["coverage"])
    return vocab, info


def load_draft_vocab(data_dir: Path, size: int, vocab_size: int) -> DraftVocabulary | None:
    """The vocabulary an earlier session of the run saved in DATA_DIR (None when there is none)."""
    path = data_dir / VOCAB_FILE
    return DraftVocabulary.load(path, size, vocab_size) if path.is_file() else None


class DraftIds:
    """Maps training batches from target ids to draft ids (one lookup table, built once)."""

    def __init__(self, vocab: DraftVocabulary):
        self.table = torch.from_numpy(vocab.to_draft(np.arange(vocab.target_size)))
        self.other = vocab.other

    def batch(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) in draft ids; a label in the 'other' slot is not scored (IGNORE)."""
        inputs, labels = pair
        scored = labels != IGNORE
        mapped = torch.full_like(labels, IGNORE)
        mapped[scored] = self.table[labels[scored]]
        if self.other is not None:
            mapped[mapped == self.other] = IGNORE
        return self.table[inputs], mapped
