"""CandidateTree: the draft tokens one target pass verifies, as a tree hanging off the root.

The root is the last emitted token, whose K/V is not in the cache yet: every step feeds
[root, node 0, node 1, ...] to the target. A chain is a tree whose every parent is the node
before; several chains that share a prefix become one trie, so the shared prefix is verified once.
Nodes are stored parents-first, so an accepted root-to-leaf path has increasing indices (what
the KV `keep` operation needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ROOT = -1  # parent index of the root's children


@dataclass
class CandidateTree:
    """tokens[i] is node i's token, parents[i] its parent node (ROOT for the root's children).

    sources[i] names the drafter tier that proposed node i (statistics only); probs[i] is the
    drafter's estimated chance that node i is accepted given its parent is (for planning), and
    draft_probs, when a drafter has them, its q(token) for lossless sampling.
    """

    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    parents: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sources: list[str] = field(default_factory=list)
    probs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    draft_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.int64).reshape(-1)
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        if self.tokens.size != self.parents.size:
            raise ValueError(f"{self.tokens.size} tokens but {self.parents.size} parents")
        if np.any(self.parents >= np.arange(self.parents.size)) or np.any(self.parents < ROOT):
            raise ValueError("every parent must come before its child (parents-first order)")
        if not self.sources:
            self.sources = ["?"] * self.tokens.size
        if self.probs.size == 0:
            self.probs = np.ones(self.tokens.size)

    def __len__(self) -> int:
        return int(self.tokens.size)

    @classmethod
    def chain(cls, tokens: Sequence[int], source: str = "?", probs: Sequence[float] | None = None) -> CandidateTree:
        count = len(tokens)
        return cls(
            tokens=np.asarray(tokens, dtype=np.int64),
            parents=np.arange(count, dtype=np.int64) - 1,
            sources=[source] * count,
            probs=np.asarray(probs if probs is not None else np.ones(count), dtype=np.float64),
        )

    @property
    def depths(self) -> np.ndarray:
        """Depth of each node: the root's children are at depth 1."""
        depth = np.zeros(self.tokens.size, dtype=np.int64)
        for i, parent in enumerate(self.parents):
            depth[i] = 1 if parent == ROOT else depth[parent] + 1
        return depth

    def children(self, node: int) -> np.ndarray:
        """Indices of NODE's children (node=ROOT for the root's), in order."""
        return np.flatnonzero(self.parents == node)

    def path_to(self, node: int) -> list[int]:
        """Node indices from the root's child down to NODE."""
        path = []
        while node != ROOT:
            path.append(node)
            node = int(self.parents[node])
        return path[::-1]

    def attention(self, pads: int = 0) -> np.ndarray:
        """[N+1+pads, N+1+pads] bool over [root, nodes..., pads...]: True where row may attend to column.

        Each node sees the root, its ancestors and itself; siblings never see each other. A pad
        row (filler that holds a pass at a fixed size) sees only itself, and no row sees it.
        """
        count = self.tokens.size + 1 + pads
        allowed = np.eye(count, dtype=bool)
        allowed[: self.tokens.size + 1, 0] = True
        for i, parent in enumerate(self.parents):
            row = i + 1
            if parent != ROOT:
                allowed[row] = allowed[parent + 1]
            allowed[row, row] = True
        return allowed

    def add_path(
        self,
        tokens: Sequence[int],
        source: str | Sequence[str],
        probs: Sequence[float],
        max_nodes: int,
        under: int = ROOT,
    ) -> int:
        """Merge a chain of TOKENS below node UNDER, sharing the prefix that already exists.

        New nodes are appended (parents-first order holds). Stops at max_nodes. A node that
        already exists keeps its first source and the higher of the two probabilities.
        Returns how many nodes were added.
        """
        added = 0
        node = under
        tokens_l, parents_l = self.tokens.tolist(), self.parents.tolist()
        probs_l = self.probs.tolist()
        sources = [source] * len(tokens) if isinstance(source, str) else list(source)
        for token, prob, src in zip(tokens, probs, sources):
            match = next((i for i, p in enumerate(parents_l) if p == node and tokens_l[i] == token), None)
            if match is not None:
                probs_l[match] = max(probs_l[match], prob)
                node = match
                continue
            if len(tokens_l) >= max_nodes:
                break
            tokens_l.append(int(token))
            parents_l.append(node)
            probs_l.append(float(prob))
            self.sources.append(src)
            node = len(tokens_l) - 1
            added += 1
        self.tokens = np.asarray(tokens_l, dtype=np.int64)
        self.parents = np.asarray(parents_l, dtype=np.int64)
        self.probs = np.asarray(probs_l, dtype=np.float64)
        return added

    def path_probability(self) -> np.ndarray:
        """Chance each node is accepted: the product of conditional probs from the root down."""
        out = np.zeros(self.tokens.size)
        for i, parent in enumerate(self.parents):
            out[i] = self.probs[i] * (1.0 if parent == ROOT else out[parent])
        return out

    def subtree(self, keep: np.ndarray) -> CandidateTree:
        """The tree restricted to the nodes KEEP (a set closed under parents), reindexed."""
        keep = np.sort(np.asarray(keep, dtype=np.int64))
        remap = np.full(self.tokens.size, ROOT, dtype=np.int64)
        remap[keep] = np.arange(keep.size)
        parents = np.where(self.parents[keep] == ROOT, ROOT, remap[np.maximum(self.parents[keep], 0)])
        return CandidateTree(
            tokens=self.tokens[keep],
            parents=parents,
            sources=[self.sources[i] for i in keep],
            probs=self.probs[keep],
            draft_probs=None if self.draft_probs is None else self.draft_probs[keep],
        )
