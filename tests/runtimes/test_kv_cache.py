"""BufferKV's, SlotKV's and PagedKV's logical operations against a plain Python list of entries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_spec.runtimes.kv_cache import GROWTH, BufferKV, PagedKV, SlotKV


def entries(cache: BufferKV, layer: int = 0) -> list[float]:
    """The committed entries of one layer, identified by their first element."""
    return cache.keys[layer][0, 0, : cache.length, 0].tolist()


def block(
    start: int, count: int, layers: int, heads: int = 2, dim: int = 4
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    ids = np.arange(start, start + count, dtype=np.float32)
    k = [np.broadcast_to(ids[None, None, :, None], (1, heads, count, dim)).copy() for _ in range(layers)]
    v = [-x for x in k]
    return k, v


operation = st.one_of(
    st.tuples(st.just("append_keep"), st.integers(1, 20), st.data()),
    st.tuples(st.just("truncate"), st.integers(0, 1000), st.none()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, min_size=1, max_size=25))
def test_operations_match_a_list(ops) -> None:  # noqa: ANN001
    cache = BufferKV(num_layers=2, kv_heads=2, head_dim=4)
    reference: list[float] = []
    counter = 0
    for kind, amount, data in ops:
        if kind == "append_keep":
            k, v = block(counter, amount, 2)
            new_ids = list(range(counter, counter + amount))
            counter += amount
            cache.append(k, v)
            keep = data.draw(st.lists(st.integers(0, amount - 1), unique=True, max_size=amount).map(sorted))
            cache.keep(keep)
            reference += [float(new_ids[i]) for i in keep]
        else:
            length = min(amount, len(reference))
            cache.truncate(length)
            reference = reference[:length]
        assert entries(cache, 0) == reference
        assert entries(cache, 1) == reference
        assert cache.values[1][0, 1, : cache.length, 3].tolist() == [-x for x in reference]
        assert cache.capacity % GROWTH == 0 and cache.capacity >= cache.length


def test_forced_rejection_does_not_leak() -> None:
    """200 rounds of 'append 8, keep none but the first': length equals what was committed."""
    cache = BufferKV(num_layers=1, kv_heads=1, head_dim=2)
    for round_ in range(200):
        k, v = block(round_ * 8, 8, 1, heads=1, dim=2)
        cache.append(k, v)
        cache.keep([0])
    assert cache.length == 200 and cache.pending == 0
    assert cache.capacity == 256  # room for 200 committed + one 8-token block, nothing more
    assert entries(cache) == [float(r * 8) for r in range(200)]


def test_keep_refuses_indices_outside_the_last_block() -> None:
    cache = BufferKV(num_layers=1, kv_heads=1, head_dim=2)
    cache.append(*block(0, 3, 1, heads=1, dim=2))
    try:
        cache.keep([3])
    except IndexError as exc:
        assert "3 pending" in str(exc)
    else:
        raise AssertionError("keep([3]) after a 3-entry block should fail")


class PhysicalState:
    """Stands in for a plugin's state: one token id per physical slot, gathered on compaction."""

    def __init__(self) -> None:
        self.slots: list[int] = []

    def compact(self, order: np.ndarray) -> None:
        self.slots = [self.slots[i] for i in order]


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, min_size=1, max_size=40))
def test_slot_table_matches_a_list(ops) -> None:  # noqa: ANN001
    state = PhysicalState()
    kv = SlotKV(compact=state.compact, min_dead_to_compact=16)
    reference: list[int] = []
    counter = 0
    for kind, amount, data in ops:
        live, position = kv.past_slots(amount or 1)
        # before every graph call, compaction has kept the garbage bounded (a truncate may kill
        # many entries at once; the next call compacts them)
        assert kv.dead <= max(16, kv.length)
        # what the mask lets the graph see, in position order, is exactly the logical cache
        seen = [state.slots[i] for i in np.flatnonzero(live)[np.argsort(position[live])]]
        assert seen == reference
        assert sorted(position[live].tolist()) == list(range(len(reference)))
        if kind == "append_keep":
            chain = list(range(counter, counter + amount))
            counter += amount
            state.slots += chain
            kv.add_pending(np.arange(kv.length, kv.length + amount))
            keep_count = data.draw(st.integers(0, amount))
            kv.keep(list(range(keep_count)))  # a chain: the accepted part is a prefix
            reference += chain[:keep_count]
        else:
            length = min(amount, len(reference))
            kv.truncate(length)
            reference = reference[:length]
        assert kv.length == len(reference)


def paged_entries(cache: PagedKV, which: int = 0) -> list[float]:
    """The committed entries of one block cache, in slot order (first element of each row)."""
    slots = np.arange(cache.length)
    if not cache.caches:  # nothing allocated before the first forward
        return []
    return cache.caches[which][slots // cache.block_size, 0, slots % cache.block_size, 0].tolist()


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, min_size=1, max_size=25))
def test_paged_operations_match_a_list(ops) -> None:  # noqa: ANN001
    """What the paged graph does (write T entries at the committed length), then keep/truncate."""
    allocated: list[int] = []

    def allocate(blocks: int) -> list[np.ndarray]:
        allocated.append(blocks)
        return [np.full((blocks, 2, 4, 3), np.nan, np.float32) for _ in range(4)]  # 2 layers: K, K, V, V

    cache = PagedKV(block_size=4, allocate=allocate)
    reference: list[float] = []
    counter = 0
    for kind, amount, data in ops:
        if kind == "append_keep":
            cache.make_room(amount)  # what the session asks before a forward
            new_ids = np.arange(counter, counter + amount, dtype=np.float32)
            slots = cache.length + np.arange(amount)
            for i, array in enumerate(cache.caches):
                array[slots // 4, :, slots % 4, :] = (new_ids if i < 2 else -new_ids)[:, None, None]
            cache.add_pending(amount)
            counter += amount
            keep = data.draw(st.lists(st.integers(0, amount - 1), unique=True, max_size=amount).map(sorted))
            cache.keep(keep)
            reference += [float(new_ids[i]) for i in keep]
        else:
            length = min(amount, len(reference))
            cache.truncate(length)
            reference = reference[:length]
        assert paged_entries(cache, 0) == reference and paged_entries(cache, 1) == reference
        assert paged_entries(cache, 3) == [-x for x in reference]
        assert cache.blocks * cache.block_size >= cache.length
    assert allocated == sorted(allocated)  # caches only ever grow
