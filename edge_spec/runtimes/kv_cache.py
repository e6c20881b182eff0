"""Fixed-capacity KV buffers owned by the runtime, with the engine's three logical operations.

Layout per layer: key and value arrays [1, kv_heads, capacity, head_dim]. The whole buffer is
what the graph receives as its past (contiguous, so backends wrap it without copying); slots
at or beyond `length` are masked out. Capacity grows in steps of GROWTH slots, so the masked
padding a pass attends over stays small and growth copies are rare.
"""

from __future__ import annotations

import numpy as np

GROWTH = 128


class KVCache:
    """The target's (or a drafter's) KV cache as numpy buffers."""

    def __init__(self, num_layers: int, kv_heads: int, head_dim: int, dtype: type = np.float32):
        self.num_layers = num_layers
        self.shape = (kv_heads, head_dim)
        self.dtype = dtype
        self.length = 0  # committed entries, slots [0, length)
        self.pending = 0  # entries appended by the last forward, slots [length, length+pending)
        self.keys: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self._allocate(0)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def _allocate(self, capacity: int) -> None:
        heads, dim = self.shape
        old_k, old_v, used = self.keys, self.values, self.length + self.pending
        self.keys = [np.zeros((1, heads, capacity, dim), self.dtype) for _ in range(self.num_layers)]
        self.values = [np.zeros((1, heads, capacity, dim), self.dtype) for _ in range(self.num_layers)]
        for new, old in zip(self.keys + self.values, old_k + old_v):
            new[:, :, :used] = old[:, :, :used]

    def reserve(self, total: int) -> None:
        """Make room for `total` entries (committed + about to be appended)."""
        if total > self.capacity:
            self._allocate(-(-total // GROWTH) * GROWTH)

    def append(self, new_keys: list[np.ndarray], new_values: list[np.ndarray]) -> None:
        """Write a forward's T new entries after the committed ones (they become pending).

        Any still-pending entries of an earlier forward are committed first: a forward always
        sees them in its past.
        """
        self.commit_all()
        count = new_keys[0].shape[2]
        self.reserve(self.length + count)
        start, end = self.length, self.length + count
        for buf, new in zip(self.keys, new_keys):
            buf[:, :, start:end] = new
        for buf, new in zip(self.values, new_values):
            buf[:, :, start:end] = new
        self.pending = count

    def commit_all(self) -> None:
        self.length += self.pending
        self.pending = 0

    def keep(self, indices: list[int] | np.ndarray) -> None:
        """Keep only these pending entries (indices into the last forward), compacted in order.

        Cost is O(kept entries): the accepted path moves down, the rest is simply forgotten.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.pending):
            raise IndexError(f"keep({idx.tolist()}) outside the {self.pending} pending entries")
        if not np.array_equal(idx, np.arange(idx.size)):
            src = self.length + idx
            dst = slice(self.length, self.length + idx.size)
            for buf in self.keys + self.values:
                buf[:, :, dst] = buf[:, :, src]
        self.length += idx.size
        self.pending = 0

    def truncate(self, length: int) -> None:
        """Forget everything from `length` on (pending entries included)."""
        self.commit_all()
        if not 0 <= length <= self.length:
            raise IndexError(f"truncate({length}) outside 0..{self.length}")
        self.length = length

    def reset(self) -> None:
        self.length = 0
        self.pending = 0
