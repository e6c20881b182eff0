"""Greedy acceptance: keep the longest path whose every token is the target's argmax.

The target's pass over [root, nodes...] gives, at each row, the token the target would emit
after that row. Starting at the root, a child is accepted when its token equals the argmax at
its parent's row; the walk goes on from it. The argmax at the last accepted row is the bonus
token, emitted for free. So every emitted token is the target's own argmax given exactly the
tokens before it: the output is plain greedy decoding's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_spec.engine.tree import ROOT, CandidateTree


@dataclass
class Verdict:
    """path: accepted node indices, root to leaf; emitted: their tokens plus the bonus token."""

    path: list[int]
    emitted: list[int]

    @property
    def kept_rows(self) -> list[int]:
        """Rows of the verify pass whose K/V stay: the root (row 0) and the accepted nodes."""
        return [0] + [node + 1 for node in self.path]


def verify_greedy(tree: CandidateTree, argmax: np.ndarray) -> Verdict:
    """ARGMAX[r] is the target's argmax at row r of [root, nodes...] (length len(tree) + 1)."""
    if argmax.shape[0] != len(tree) + 1:
        raise ValueError(f"{argmax.shape[0]} argmax rows for a tree of {len(tree)} nodes plus its root")
    path = _longest(tree, argmax, ROOT)
    row = path[-1] + 1 if path else 0
    emitted = [int(tree.tokens[n]) for n in path] + [int(argmax[row])]
    return Verdict(path=path, emitted=emitted)


def _longest(tree: CandidateTree, argmax: np.ndarray, node: int) -> list[int]:
    """The longest accepted path below NODE. Siblings may repeat a token (a tree not built by
    add_path): then every matching child is tried and the deepest acceptance wins."""
    want = int(argmax[node + 1])  # row of NODE: the root is row 0, node i is row i + 1
    best: list[int] = []
    for child in tree.children(node):
        if tree.tokens[child] == want:
            path = [int(child), *_longest(tree, argmax, int(child))]
            if len(path) > len(best):
                best = path
    return best
