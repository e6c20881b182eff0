"""What every backend offers the engine: one forward over new tokens, and the KV operations.

The engine speaks in logical terms (tokens, positions, which new token sees which); the session
turns that into the graph's masks from its KV bookkeeping (kv_cache.py), and a backend's `_run`
feeds the graph and records the new K/V entries. Adding a backend means implementing `_run`
and `_make_kv`, nothing in the engine.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from edge_spec.bundle import TargetSpec

MASK_MIN = np.finfo(np.float32).min


@dataclass
class ForwardResult:
    """Logits [K, V] for the requested rows (all T by default), hidden states [T, d]."""

    logits: np.ndarray
    hidden: dict[str, np.ndarray] = field(default_factory=dict)


class TargetSession(ABC):
    """A loaded spec-layout graph plus its KV cache (see kv_cache.py for the three layouts)."""

    backend: str = ""
    kv_layout: str = ""  # which kv_cache.py layout: "buffer", "slots" or "paged"

    def __init__(self, spec: TargetSpec, device: str, numerics: str):
        self.spec = spec
        self.device = device
        self.numerics = numerics  # what was asked; backends replace "auto" by what they chose
        self.kv = self._make_kv()
        self.forward_calls = 0
        self.tokens_processed = 0
        self.forward_seconds = 0.0

    @property
    def vocab_size(self) -> int:
        return self.spec.vocab_size

    @property
    def length(self) -> int:
        """Committed KV entries."""
        return self.kv.length

    def forward(
        self,
        tokens: np.ndarray,
        positions: np.ndarray | None = None,
        tree_mask: np.ndarray | None = None,
        logit_rows: np.ndarray | None = None,
    ) -> ForwardResult:
        """Run T new tokens after the committed cache; their K/V become pending entries.

        positions default to length..length+T-1; tree_mask [T, T] (bool, True = may attend)
        defaults to causal; logit_rows (default: all) selects the rows that need logits.
        Pending entries of an earlier forward are committed first.
        """
        self.kv.commit_all()
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        count = tokens.size
        if positions is None:
            positions = np.arange(self.kv.length, self.kv.length + count, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        rows = np.arange(count) if logit_rows is None else np.asarray(logit_rows, dtype=np.int64).reshape(-1)
        mask, sliding = self._masks(positions, tree_mask)
        start = time.perf_counter()
        logits, hidden = self._run(tokens.reshape(1, count), positions.reshape(1, count), rows, mask, sliding)
        self.forward_seconds += time.perf_counter() - start
        self.forward_calls += 1
        self.tokens_processed += count
        return ForwardResult(logits=logits[0], hidden={k: v[0] for k, v in hidden.items()})

    def _masks(self, positions: np.ndarray, tree_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The graph's attention mask(s) over past slots and new tokens (see additive_mask);
        TREE_MASK None: causal."""
        if tree_mask is None:
            tree_mask = np.tril(np.ones((positions.size, positions.size), dtype=bool))
        live, slot_pos = self.kv.past_slots(positions.size)
        window = self.spec.sliding_window
        if window and self.two_masks:
            mask = additive_mask(live, slot_pos, positions, tree_mask, None)
            sliding = additive_mask(live, slot_pos, positions, tree_mask, window)
            return mask, sliding
        return additive_mask(live, slot_pos, positions, tree_mask, window), None  # windowed if every layer slides

    def reserve(self, total: int) -> None:
        """Room for TOTAL entries, so a generation does not grow buffers step by step."""
        self.kv.reserve(total)

    def commit(self) -> None:
        """Keep every entry of the last forward (plain decoding, prefill)."""
        self.kv.commit_all()

    def keep(self, indices: list[int] | np.ndarray) -> None:
        """Keep these entries of the last forward (the accepted path), compacted in order."""
        self.kv.keep(indices)

    def truncate(self, length: int) -> None:
        self.kv.truncate(length)

    def reset(self) -> None:
        self.kv.reset()

    @property
    def two_masks(self) -> bool:
        """Whether the graph takes a separate sliding-window mask (mixed full/sliding layers)."""
        return "sliding_attention_mask" in self.graph_inputs

    @property
    @abstractmethod
    def graph_inputs(self) -> set[str]:
        """Names of the loaded graph's inputs."""

    @abstractmethod
    def _make_kv(self):  # noqa: ANN202
        """The KV bookkeeping this backend uses (BufferKV, SlotKV or PagedKV)."""

    @abstractmethod
    def _run(
        self,
        input_ids: np.ndarray,
        position_ids: np.ndarray,
        logit_rows: np.ndarray,
        mask: np.ndarray,
        sliding: np.ndarray | None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One graph call; appends the new K/V to the cache as pending. Returns (logits, hidden)."""


def is_hidden_output(name: str) -> bool:
    """Whether a graph output is a hidden state (hidden_final, hidden_early), not logits or K/V."""
    return name.startswith("hidden_")


def graph_feed(
    input_ids: np.ndarray,
    position_ids: np.ndarray,
    logit_rows: np.ndarray,
    mask: np.ndarray,
    sliding: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The spec-layout inputs every backend feeds (each adds its own: past K/V, beam_idx)."""
    feeds = {"input_ids": input_ids, "position_ids": position_ids, "logit_rows": logit_rows, "attention_mask": mask}
    if sliding is not None:
        feeds["sliding_attention_mask"] = sliding
    return feeds


def additive_mask(
    live: np.ndarray, slot_pos: np.ndarray, positions: np.ndarray, tree_mask: np.ndarray, window: int | None
) -> np.ndarray:
    """The graph's [1, 1, T, S+T] additive mask: live past slots, then the tree among the new.

    With a window, a key more than window-1 positions behind the query is hidden as well.
    """
    count, slots = positions.size, live.size
    mask = np.full((1, 1, count, slots + count), MASK_MIN, dtype=np.float32)
    past_ok = np.broadcast_to(live, (count, slots))
    new_ok = tree_mask
    if window is not None:
        past_ok = past_ok & ((positions[:, None] - slot_pos[None, :]) < window)
        new_ok = new_ok & ((positions[:, None] - positions[None, :]) < window)
    mask[0, 0, :, :slots][past_ok] = 0.0
    mask[0, 0, :, slots:][new_ok] = 0.0
    return mask
