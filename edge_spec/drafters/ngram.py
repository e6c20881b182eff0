"""Hierarchy-drafting n-gram drafter: context DB, then model DB, then static DB, one tree per step.

Tiers are searched highest temporal locality first (this request, then this model's earlier
outputs, then a corpus) and their candidates merged into one CandidateTree until `max_candidates`
chains are in. Each tier has its own thresholds before it proposes anything (llama.cpp's idea:
lax for the context, strict for the model DB), and each node carries the tier's own estimate of
its acceptance, which the planner calibrates per tier and depth against what the target accepts.
None of it costs a model call.

llama.cpp has no planner, so its thresholds must keep unlikely drafts out of the pass. Here the
planner already weighs every node's chance against what its row costs, so a threshold only
withholds candidates the planner would have priced: the context and static tiers' thresholds
are low (see NgramConfig), the model DB keeps llama.cpp's strict ones.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge_spec.drafters.base import DraftBudget, Drafter
from edge_spec.drafters.ngram_context import ContextNgrams
from edge_spec.engine.tree import ROOT, CandidateTree


class CountTable(Protocol):
    """An n-gram -> next-token-counts table (the model and static DBs)."""

    max_order: int

    def lookup(self, key: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
        """(tokens, counts, total) after KEY: the most frequent next tokens first, and the count
        of every next token seen (kept or not); empty arrays and 0 when KEY is unseen."""


@dataclass(frozen=True)
class CountThresholds:
    """Before a count tier proposes a next token: its count and its share of the key's total."""

    min_count: dict[int, int]
    min_share: dict[int, float]

    def passes(self, order: int, count: int, share: float) -> bool:
        return count >= self.min_count.get(order, 1) and share >= self.min_share.get(order, 0.0)


# llama.cpp lookup's strict thresholds (indexed by key length), kept for the model DB.
STRICT = CountThresholds(min_count={1: 4, 2: 3, 3: 2, 4: 2}, min_share={1: 0.75, 2: 0.66, 3: 0.66, 4: 0.66})
# The static DB proposes its most frequent continuation unless that is rare or a small minority;
# the planner prices the rest by its share. Replayed over SmolLM2-135M's greedy outputs with the
# engine's planner (2-core EPYC curves; prompts the thresholds were not chosen on: 40 HumanEval,
# Spec-Bench's 4th-6th per category), the old clear-majority rule ({1: 8, 2: 4, 3: 2} and half
# of the key's count) ran 5-6% slower than this, and 8-11% slower with the context tier's old
# support of two for one-token matches as well (benchmarks/README.md, "ngram_thresholds.py").
STATIC = CountThresholds(min_count={1: 4, 2: 2, 3: 2}, min_share={1: 0.1, 2: 0.1, 3: 0.1})


@dataclass
class NgramConfig:
    """Knobs of the n-gram drafter; the defaults are what the benchmarks ran."""

    context_max_n: int = 4
    context_per_key: int = 8
    # occurrences of an n-token suffix that must agree before the context tier copies what
    # followed (llama.cpp asks two for one-token matches; here the band prior and the planner
    # price a single one: see STATIC for the measurement)
    context_min_support: dict[int, int] = field(default_factory=lambda: {1: 1, 2: 1, 3: 1, 4: 1})
    # a context continuation's prior acceptance per token by its match with the history's end
    # (ContextCandidate.match), keyed by the longest match of each band; each band is also a
    # source of its own, so the planner calibrates it per depth while decoding
    context_prior: dict[int, float] = field(
        default_factory=lambda: {1: 0.3, 2: 0.45, 3: 0.6, 4: 0.7, 8: 0.8, 16: 0.9, 32: 0.95}
    )
    static_thresholds: CountThresholds = STATIC
    model_thresholds: CountThresholds = STRICT
    max_candidates: int = 7
    count_depth: int = 8  # how far a count tier extends a chain
    branch_share: float = 0.2  # a count tier's runner-up next token with this share gets its own branch

    def context_band(self, match: int) -> int:
        """The band of context_prior a copy with a MATCH-token match falls in (the last for longer)."""
        bands = sorted(self.context_prior)
        return bands[min(bisect.bisect_left(bands, match), len(bands) - 1)]


class NgramDrafter(Drafter):
    """Three tiers of n-gram lookups merged into one candidate tree (Hierarchy Drafting)."""

    name = "ngram"

    def __init__(
        self,
        model_db: CountTable | None = None,
        static_db: CountTable | None = None,
        config: NgramConfig | None = None,
        learner: ModelLearner | None = None,
    ):
        self.config = config or NgramConfig()
        self.context = ContextNgrams(self.config.context_max_n, self.config.context_per_key)
        self.tiers: list[tuple[str, CountTable]] = []
        if model_db is not None:
            self.tiers.append(("model", model_db))
        if static_db is not None:
            self.tiers.append(("static", static_db))
        self.learner = learner
        self._prompt_len: int | None = None

    def reset(self) -> None:
        """A new request: the last one's output goes to the model DB's learner first."""
        history = self.context.history
        if self.learner is not None and self._prompt_len is not None and len(history) > self._prompt_len:
            self.learner.learn(history, self._prompt_len)
        self.context.reset()
        self._prompt_len = None

    def observe(self, tokens: Sequence[int]) -> None:
        if self._prompt_len is None:  # the first call after reset() brings the prompt (+ first token)
            self._prompt_len = max(0, len(tokens) - 1)
        self.context.extend(tokens)

    def close(self) -> None:
        self.reset()
        if self.learner is not None:
            self.learner.save()

    def propose(self, budget: DraftBudget) -> CandidateTree:
        cfg = self.config
        tree = CandidateTree()
        chains = 0
        for cand in self.context.candidates(budget.max_depth, cfg.max_candidates, cfg.context_min_support):
            share = cand.support / cand.seen
            band = cfg.context_band(cand.match)
            prior = cfg.context_prior[band]
            probs = [prior * share] + [prior] * (len(cand.tokens) - 1)
            tree.add_path(cand.tokens, f"context:{band}", probs, budget.max_nodes)
            chains += 1
        history = self.context.history
        depth = min(cfg.count_depth, budget.max_depth)
        for tier, table in self.tiers:
            if chains >= cfg.max_candidates or len(tree) >= budget.max_nodes:
                break
            thresholds = cfg.model_thresholds if tier == "model" else cfg.static_thresholds
            for tokens, orders, probs in self._count_chains(table, thresholds, history, depth):
                tree.add_path(tokens, [f"{tier}:{o}" for o in orders], probs, budget.max_nodes)
                chains += 1
        return tree

    def _count_chains(
        self, table: CountTable, thresholds: CountThresholds, history: list[int], depth: int
    ) -> list[tuple[list[int], list[int], list[float]]]:
        """The table's most likely chain after HISTORY, and one branch per strong runner-up first token."""
        first = self._next(table, thresholds, history, want_runner_up=True)
        if first is None:
            return []
        chains = []
        for token, order, share in first:
            tokens, orders, probs = [token], [order], [share]
            context = history[-table.max_order :] + [token]
            while len(tokens) < depth:
                step = self._next(table, thresholds, context, want_runner_up=False)
                if step is None:
                    break
                token2, order2, share2 = step[0]
                tokens.append(token2)
                orders.append(order2)
                probs.append(share2)
                context = context[1:] + [token2] if len(context) >= table.max_order else context + [token2]
            chains.append((tokens, orders, probs))
        return chains

    def _next(
        self, table: CountTable, thresholds: CountThresholds, context: list[int], want_runner_up: bool
    ) -> list[tuple[int, int, float]] | None:
        """Next token(s) by the longest key that the table knows, if its thresholds pass."""
        for order in range(min(table.max_order, len(context)), 0, -1):
            tokens, counts, total = table.lookup(context[-order:])
            if tokens.size == 0:
                continue
            total = float(max(total, counts.sum()))
            share = counts[0] / total
            if not thresholds.passes(order, int(counts[0]), share):
                return None
            out = [(int(tokens[0]), order, share)]
            if want_runner_up and tokens.size > 1 and counts[1] / total >= self.config.branch_share:
                out.append((int(tokens[1]), order, counts[1] / total))
            return out
        return None


class ModelLearner(Protocol):
    """Collects the model's outputs for the model DB and persists them."""

    def learn(self, history: Sequence[int], prompt_len: int) -> None:
        """HISTORY[prompt_len:] is what the model wrote; the rest is its context."""

    def save(self) -> None: ...


__all__ = ["ROOT", "CountTable", "CountThresholds", "NgramConfig", "NgramDrafter"]
