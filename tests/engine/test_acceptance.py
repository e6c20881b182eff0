"""Greedy acceptance and the KV path it keeps, against a brute-force reference on random trees."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_spec.engine.acceptance import verify_greedy
from edge_spec.engine.tree import ROOT, CandidateTree
from edge_spec.runtimes.kv_cache import BufferKV

VOCAB = 4  # a small vocabulary makes matches (and sibling collisions) common


@st.composite
def trees(draw: st.DrawFn) -> CandidateTree:
    size = draw(st.integers(0, 12))
    parents = [draw(st.integers(ROOT, i - 1)) for i in range(size)]
    tokens = draw(st.lists(st.integers(0, VOCAB - 1), min_size=size, max_size=size))
    return CandidateTree(tokens=tokens, parents=parents)


def brute_force(tree: CandidateTree, argmax: np.ndarray) -> tuple[list[int], list[int]]:
    """Every root-to-node path whose tokens all equal the argmax at their parent's row; the
    longest wins (ties: the one whose nodes come first, as the walk takes the first child)."""
    best: list[int] = []
    for node in range(len(tree)):
        path = tree.path_to(node)
        rows = [0] + [n + 1 for n in path[:-1]]
        if all(tree.tokens[n] == argmax[r] for n, r in zip(path, rows)):
            if len(path) > len(best) or (len(path) == len(best) and path < best):
                best = path
    bonus = int(argmax[best[-1] + 1 if best else 0])
    return best, [int(tree.tokens[n]) for n in best] + [bonus]


@settings(max_examples=400, deadline=None)
@given(trees(), st.data())
def test_acceptance_matches_brute_force(tree: CandidateTree, data: st.DataObject) -> None:
    argmax = np.array(data.draw(st.lists(st.integers(0, VOCAB - 1), min_size=len(tree) + 1, max_size=len(tree) + 1)))
    verdict = verify_greedy(tree, argmax)
    path, emitted = brute_force(tree, argmax)
    # siblings may repeat a token: then any one of them is a correct choice of the same tokens
    assert verdict.emitted == emitted
    assert len(verdict.path) == len(path)
    assert [int(tree.tokens[n]) for n in verdict.path] == emitted[:-1]
    # the path is a chain from the root, in increasing node order
    assert all(tree.parents[b] == a for a, b in zip([ROOT, *verdict.path], verdict.path))


@settings(max_examples=200, deadline=None)
@given(trees(), st.data(), st.integers(0, 20))
def test_kept_kv_is_the_accepted_path(tree: CandidateTree, data: st.DataObject, committed: int) -> None:
    """After keep(), the cache holds the old entries, the root, then the accepted nodes in order."""
    argmax = np.array(data.draw(st.lists(st.integers(0, VOCAB - 1), min_size=len(tree) + 1, max_size=len(tree) + 1)))
    cache = BufferKV(num_layers=1, kv_heads=1, head_dim=1)
    old = np.arange(committed, dtype=np.float32)
    cache.append([old[None, None, :, None]], [old[None, None, :, None]])
    cache.commit_all()
    # entry ids: 1000 for the root, 1001+i for node i
    new = np.arange(1000, 1001 + len(tree), dtype=np.float32)[None, None, :, None]
    cache.append([new], [new])
    verdict = verify_greedy(tree, argmax)
    cache.keep(verdict.kept_rows)
    want = list(range(committed)) + [1000] + [1001 + n for n in verdict.path]
    assert cache.keys[0][0, 0, : cache.length, 0].tolist() == want


def test_tree_attention_hides_siblings() -> None:
    # root -> a -> b, root -> c ; a's child d
    tree = CandidateTree(tokens=[5, 6, 7, 8], parents=[ROOT, 0, ROOT, 0])
    allowed = tree.attention()
    assert allowed.tolist() == [
        [True, False, False, False, False],
        [True, True, False, False, False],
        [True, True, True, False, False],
        [True, False, False, True, False],
        [True, True, False, False, True],
    ]
    assert tree.depths.tolist() == [1, 2, 1, 2]


def test_add_path_shares_prefixes() -> None:
    tree = CandidateTree()
    assert tree.add_path([1, 2, 3], "a", [0.9, 0.8, 0.7], max_nodes=10) == 3
    assert tree.add_path([1, 2, 4, 5], "b", [0.5, 0.5, 0.5, 0.5], max_nodes=10) == 2
    assert tree.tokens.tolist() == [1, 2, 3, 4, 5]
    assert tree.parents.tolist() == [ROOT, 0, 1, 1, 3]
    assert tree.sources == ["a", "a", "a", "b", "b"]
    assert tree.add_path([9, 9, 9], "c", [1, 1, 1], max_nodes=6) == 1  # the node budget stops it
    assert len(tree) == 6
