"""What every backend offers the engine: one forward over new tokens, and the KV operations.

The engine speaks in logical terms (tokens, positions, which new token sees which); a backend
turns that into its graph's inputs, runs it, and appends the new K/V entries to buffers it
owns. Adding a backend means implementing `_run`, nothing in the engine.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from edge_spec.bundle import TargetSpec
from edge_spec.runtimes.kv_cache import KVCache

MASK_MIN = np.finfo(np.float32).min


@dataclass
class ForwardResult:
    """Logits [T, V] for every new token, and the hidden states the graph exposes ([T, d])."""

    logits: np.ndarray
    hidden: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Capabilities:
    dynamic_shapes: bool = True
    devices: tuple[str, ...] = ()


class TargetSession(ABC):
    """A loaded spec-layout graph plus its KV cache."""

    backend: str = ""

    def __init__(self, spec: TargetSpec, device: str, numerics: str):
        self.spec = spec
        self.device = device
        self.numerics = numerics  # what was asked; backends replace "auto" by what they chose
        self.kv = KVCache(spec.num_layers, spec.kv_heads, spec.head_dim)
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
        self, tokens: np.ndarray, positions: np.ndarray | None = None, tree_mask: np.ndarray | None = None
    ) -> ForwardResult:
        """Run T new tokens after the committed cache; their K/V become pending entries.

        positions default to length..length+T-1; tree_mask [T, T] (bool, True = may attend)
        defaults to causal. Pending entries of an earlier forward are committed first.
        """
        self.kv.commit_all()
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        count = tokens.size
        past = self.kv.length
        if positions is None:
            positions = np.arange(past, past + count, dtype=np.int64)
        if tree_mask is None:
            tree_mask = np.tril(np.ones((count, count), dtype=bool))
        self.kv.reserve(past + count)
        capacity = self.kv.capacity
        mask = np.full((1, 1, count, capacity + count), MASK_MIN, dtype=np.float32)
        mask[0, 0, :, :past] = 0.0
        mask[0, 0, :, capacity:] = np.where(tree_mask, 0.0, MASK_MIN)
        start = time.perf_counter()
        logits, new_keys, new_values, hidden = self._run(
            tokens.reshape(1, count), np.asarray(positions, dtype=np.int64).reshape(1, count), mask
        )
        self.forward_seconds += time.perf_counter() - start
        self.forward_calls += 1
        self.tokens_processed += count
        self.kv.append(new_keys, new_values)
        return ForwardResult(logits=logits[0], hidden={k: v[0] for k, v in hidden.items()})

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

    @abstractmethod
    def _run(
        self, input_ids: np.ndarray, position_ids: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
        """One graph call with the KV buffers as past: (logits, new keys, new values, hidden)."""
