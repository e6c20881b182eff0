"""The KV cache as the engine sees it: logical entries 0..length-1, and three operations.

append (a forward's T new entries become pending), keep (some pending entries, the accepted
path, become committed; the rest are forgotten), truncate (forget everything from a length
on). Two physical layouts sit behind that:

* `BufferKV`: numpy buffers the runtime owns and feeds to the graph as its past (ONNX Runtime).
  Committed entries are compacted at the front; keep() moves only the accepted entries.
* `SlotKV`: the bookkeeping for a cache held inside the device plugin (OpenVINO's stateful
  model). Entries cannot be moved cheaply there, so rejected ones stay as dead slots that the
  mask hides, and are compacted away only once they outnumber the live ones.
* `PagedKV`: block caches the runtime owns and the graph writes into (OpenVINO's
  PagedAttention). Entry i lives in slot i; a forward writes its T entries after the committed
  ones, so dropping rejected entries is only a shorter length, and keep() moves the accepted
  ones down, as BufferKV does.

Either way a rollback costs O(rejected tokens), never a copy of the whole cache.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GROWTH = 128


class _Entries:
    """What every layout counts: committed entries, and the last forward's pending ones.

    keep() here is for layouts where entry i sits in slot i: the kept pending entries move down
    (`_move`), the rest are forgotten by the length alone.
    """

    def __init__(self) -> None:
        self.length = 0  # committed entries
        self.pending = 0  # entries appended by the last forward, right after the committed ones

    def commit_all(self) -> None:
        self.length += self.pending
        self.pending = 0

    def keep(self, indices: list[int] | np.ndarray) -> None:
        """Keep only these pending entries (indices into the last forward), compacted in order.

        Cost is O(kept entries): the accepted path moves down, the rest is simply forgotten.
        """
        idx = _check_keep(indices, self.pending)
        if not np.array_equal(idx, np.arange(idx.size)):
            self._move(self.length + idx, self.length + np.arange(idx.size))
        self.length += idx.size
        self.pending = 0

    def _move(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Copy the entries in slots SRC to slots DST (increasing, dst <= src)."""
        raise NotImplementedError

    def truncate(self, length: int) -> None:
        """Forget everything from `length` on (pending entries included)."""
        self.commit_all()
        _check_truncate(length, self.length)
        self.length = length

    def reset(self) -> None:
        self.length = 0
        self.pending = 0


class BufferKV(_Entries):
    """K/V arrays [1, kv_heads, capacity, head_dim] per layer, capacity grown in GROWTH steps.

    The whole buffer is what the graph receives as its past (contiguous, so it is wrapped, not
    copied); slots at or beyond `length` are masked out.
    """

    def __init__(self, num_layers: int, kv_heads: int, head_dim: int, dtype: type = np.float32):
        super().__init__()
        self.num_layers = num_layers
        self.shape = (kv_heads, head_dim)
        self.dtype = dtype
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

    def past_slots(self, incoming: int) -> tuple[np.ndarray, np.ndarray]:
        """(live, position) of every slot the next graph call sees as its past."""
        self.commit_all()
        self.reserve(self.length + incoming)
        slots = np.arange(self.capacity)
        return slots < self.length, slots

    def append(self, new_keys: list[np.ndarray], new_values: list[np.ndarray]) -> None:
        """Write a forward's T new entries after the committed ones (they become pending)."""
        self.commit_all()
        count = new_keys[0].shape[2]
        self.reserve(self.length + count)
        start, end = self.length, self.length + count
        for buf, new in zip(self.keys, new_keys):
            buf[:, :, start:end] = new
        for buf, new in zip(self.values, new_values):
            buf[:, :, start:end] = new
        self.pending = count

    def _move(self, src: np.ndarray, dst: np.ndarray) -> None:
        for buf in self.keys + self.values:
            buf[:, :, dst] = buf[:, :, src]


# Allocates the block caches for a number of blocks: one array [blocks, kv_heads, block, dim]
# per layer for keys, then one per layer for values, each a view of what the graph reads.
BlockAllocator = Callable[[int], list[np.ndarray]]


class PagedKV(_Entries):
    """Entries 0..length-1 in slots 0..length-1 of block caches [blocks, kv_heads, block, dim].

    The graph is told the committed length (its past) and writes the new entries right after
    it; this class only grows the caches and moves kept entries down.
    """

    def __init__(self, block_size: int, allocate: BlockAllocator):
        super().__init__()
        self.block_size = block_size
        self.allocate = allocate
        self.caches: list[np.ndarray] = []
        self.blocks = 0

    def reserve(self, total: int) -> None:
        """Room for TOTAL entries; the caches grow by doubling and keep what they hold."""
        need = -(-total // self.block_size)
        if need <= self.blocks:
            return
        blocks = max(need, 2 * self.blocks, GROWTH // self.block_size)
        new = self.allocate(blocks)
        for dst, src in zip(new, self.caches):
            dst[: self.blocks] = src
        self.caches, self.blocks = new, blocks

    def make_room(self, incoming: int) -> None:
        """Before a forward: commit the last one's entries, and room for INCOMING more.

        No mask is built: the graph reads the committed length and attends to all of it.
        """
        self.commit_all()
        self.reserve(self.length + incoming)

    def add_pending(self, count: int) -> None:
        """Record that the last forward wrote COUNT entries after the committed ones."""
        self.commit_all()
        self.pending = count

    def _move(self, src: np.ndarray, dst: np.ndarray) -> None:
        src_block, src_row = np.divmod(src, self.block_size)
        dst_block, dst_row = np.divmod(dst, self.block_size)
        for cache in self.caches:
            cache[dst_block, :, dst_row] = cache[src_block, :, src_row]


# Compacts a plugin-held cache: receives the physical slots to keep, in order.
Compactor = Callable[[np.ndarray], None]


class SlotKV(_Entries):
    """Which physical slots of a plugin-held cache are live, and which position each holds.

    Logical entry i is the live slot holding position i (positions of committed entries are
    0..length-1, each once), so the mask alone tells the graph what to attend to.
    """

    def __init__(self, compact: Compactor, min_dead_to_compact: int = 256):
        super().__init__()
        self.compact = compact
        self.min_dead = min_dead_to_compact
        self.live = np.zeros(0, dtype=bool)
        self.position = np.zeros(0, dtype=np.int64)
        self.used = 0  # physical slots in the plugin's state
        self.compactions = 0

    @property
    def dead(self) -> int:
        return self.used - self.length - self.pending

    def past_slots(self, incoming: int) -> tuple[np.ndarray, np.ndarray]:
        self.commit_all()
        if self.dead > max(self.min_dead, self.length):
            self._compact()
        return self.live[: self.used], self.position[: self.used]

    def reserve(self, total: int) -> None:
        """Nothing to do: the plugin grows its own state."""

    def add_pending(self, positions: np.ndarray) -> None:
        """Record that the last forward appended len(positions) slots to the plugin's state."""
        self.commit_all()
        count = len(positions)
        if self.used + count > len(self.live):
            grow = max(2 * len(self.live), self.used + count, GROWTH)
            self.live = np.resize(self.live, grow)
            self.position = np.resize(self.position, grow)
        self.live[self.used : self.used + count] = True
        self.position[self.used : self.used + count] = positions
        self.used += count
        self.pending = count

    def keep(self, indices: list[int] | np.ndarray) -> None:
        """Keep these pending entries: the rest become dead slots (nothing moves in the plugin)."""
        idx = _check_keep(indices, self.pending)
        start = self.used - self.pending
        block = slice(start, self.used)
        kept = np.zeros(self.pending, dtype=bool)
        kept[idx] = True
        self.live[block] &= kept
        expected = np.arange(self.length, self.length + idx.size)
        if not np.array_equal(self.position[start + idx], expected):
            raise ValueError(
                f"kept entries hold positions {self.position[start + idx].tolist()}, not {expected.tolist()}"
            )
        self.length += idx.size
        self.pending = 0

    def truncate(self, length: int) -> None:
        super().truncate(length)
        self.live[: self.used] &= self.position[: self.used] < length

    def reset(self) -> None:
        super().reset()
        self.used = 0

    def _compact(self) -> None:
        """Drop dead slots from the plugin's state: one gather, O(cache), done rarely."""
        order = np.flatnonzero(self.live[: self.used])
        order = order[np.argsort(self.position[order], kind="stable")]
        self.compact(order)
        self.position[: order.size] = np.arange(order.size)
        self.live[: order.size] = True
        self.used = order.size
        self.compactions += 1


def _check_keep(indices: list[int] | np.ndarray, pending: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= pending):
        raise IndexError(f"keep({idx.tolist()}) outside the {pending} pending entries")
    if idx.size > 1 and np.any(np.diff(idx) <= 0):
        raise ValueError(f"keep({idx.tolist()}): indices must be increasing (root to leaf)")
    return idx


def _check_truncate(length: int, committed: int) -> None:
    if not 0 <= length <= committed:
        raise IndexError(f"truncate({length}) outside 0..{committed}")
