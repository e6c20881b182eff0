"""A draft model's own, smaller vocabulary: the target's most frequent tokens (FR-Spec's idea).

With the target's 49152-token vocabulary the LM head is most of a small draft's cost (hidden 256:
12.6M of 15.3M weights), in training as at run time. A draft whose embedding and head cover only
the tokens that actually occur (8192 cover ~95% of code and ~90% of chat the target writes) costs
a fraction per token, and the draft simply never proposes the rest: the target verifies every
token anyway, so output is unchanged (greedy) and sampling stays exact (the draft's q is zero on
tokens it cannot propose).

On disk, next to the draft's config (`draft_vocab.safetensors`): one int64 tensor `target_ids`
of the draft's vocab_size; draft id i stands for target id target_ids[i]. At most one entry is
-1: the "other" slot, which every target token outside the subset is fed as and which is never
proposed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_spec.errors import EdgeSpecError

VOCAB_FILE = "draft_vocab.safetensors"
OTHER = -1  # target_ids entry of the "other" slot


@dataclass(frozen=True)
class DraftVocabulary:
    """Which target token each draft id stands for, and the maps both ways."""

    target_ids: np.ndarray  # [draft vocab] int64; OTHER marks the slot of every other token
    target_size: int  # the target's (shared) vocabulary size

    def __post_init__(self) -> None:
        ids = np.asarray(self.target_ids, dtype=np.int64)
        object.__setattr__(self, "target_ids", ids)
        known = ids[ids != OTHER]
        problem = None
        if ids.ndim != 1 or ids.size == 0:
            problem = f"target_ids must be a non-empty 1-D array, got shape {ids.shape}"
        elif (ids == OTHER).sum() > 1:
            problem = "more than one 'other' slot (-1)"
        elif known.size and (known.min() < 0 or known.max() >= self.target_size):
            problem = f"target ids outside 0..{self.target_size - 1}"
        elif np.unique(known).size != known.size:
            problem = "a target id appears twice"
        if problem:
            raise EdgeSpecError(f"draft vocabulary: {problem}")
        other = np.flatnonzero(ids == OTHER)
        to_draft = np.full(self.target_size, other[0] if other.size else -1, dtype=np.int64)
        to_draft[known] = np.flatnonzero(ids != OTHER)
        object.__setattr__(self, "_to_draft", to_draft)

    @property
    def size(self) -> int:
        return int(self.target_ids.size)

    @property
    def other(self) -> int | None:
        """The draft id that every target token outside the subset is fed as (None: no such slot)."""
        slot = np.flatnonzero(self.target_ids == OTHER)
        return int(slot[0]) if slot.size else None

    def covers(self, target_ids: np.ndarray) -> np.ndarray:
        """Which of TARGET_IDS the draft can propose."""
        return self._to_draft[np.asarray(target_ids, dtype=np.int64)] != self._other_or_missing()

    def to_draft(self, target_ids: np.ndarray | Iterable[int]) -> np.ndarray:
        """Draft ids for TARGET_IDS (tokens outside the subset become the 'other' slot)."""
        mapped = self._to_draft[np.asarray(target_ids, dtype=np.int64)]
        if (mapped < 0).any():
            raise EdgeSpecError("draft vocabulary: a token outside the subset and no 'other' slot to feed it as")
        return mapped

    def to_target_logits(self, logits: np.ndarray) -> np.ndarray:
        """[rows, draft vocab] logits -> [rows, target vocab]; tokens the draft cannot propose get -inf."""
        rows = np.asarray(logits)
        full = np.full((rows.shape[0], self.target_size), -np.inf, dtype=np.float32)
        keep = self.target_ids != OTHER
        full[:, self.target_ids[keep]] = rows[:, : self.size][:, keep]
        return full

    def to_target_probs(self, probs: np.ndarray) -> np.ndarray:
        """A distribution over draft ids -> over target ids (the 'other' slot's share is dropped:
        the draft cannot name which token it stands for, so it is never proposed)."""
        full = np.zeros(self.target_size, dtype=np.asarray(probs).dtype)
        keep = self.target_ids != OTHER
        full[self.target_ids[keep]] = np.asarray(probs)[: self.size][keep]
        return full

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"target_ids": self.target_ids}, str(path))

    @classmethod
    def load(cls, path: Path, draft_size: int, target_size: int) -> DraftVocabulary:
        """Read PATH and check it against the draft's and the target's vocabulary sizes (one-line errors)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise EdgeSpecError(f"{path}: not a readable draft vocabulary ({exc}); re-create the draft") from None
        if set(tensors) != {"target_ids"}:
            raise EdgeSpecError(f"{path}: expected one tensor 'target_ids', found {sorted(tensors)}")
        ids = tensors["target_ids"]
        if ids.dtype != np.int64 or ids.shape != (draft_size,):
            raise EdgeSpecError(
                f"{path}: target_ids must be int64 of shape ({draft_size},) (the draft's vocab_size), "
                f"got {ids.dtype} {ids.shape}"
            )
        try:
            return cls(ids, target_size)
        except EdgeSpecError as exc:
            raise EdgeSpecError(f"{path}: {exc}") from None

    @classmethod
    def most_frequent(cls, counts: np.ndarray, size: int, always: Iterable[int] = ()) -> DraftVocabulary:
        """The SIZE - 1 most frequent target tokens by COUNTS (ALWAYS first), plus the 'other' slot last."""
        counts = np.asarray(counts, dtype=np.float64)
        if size < 2 or size > counts.size + 1:
            raise EdgeSpecError(f"draft vocabulary size {size} must be between 2 and {counts.size + 1}")
        chosen = list(dict.fromkeys(int(t) for t in always))
        taken = set(chosen)
        for token in np.argsort(-counts, kind="stable"):
            if len(chosen) >= size - 1:
                break
            if int(token) not in taken:
                chosen.append(int(token))
        return cls(np.asarray(chosen[: size - 1] + [OTHER], dtype=np.int64), counts.size)

    def _other_or_missing(self) -> int:
        other = self.other
        return -1 if other is None else other
