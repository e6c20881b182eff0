"""A small draft model (FastDraft-style) proposes a chain; the n-gram tiers may propose for it.

Each step the draft's own KV cache is brought level with the history (whatever it drafted last
step and the target rejected is cut off: O(rejected)), then it drafts a chain greedily, one
forward per token, until its calibrated chance of still being right falls below `min_chance`.
Runner-up tokens whose probability is high enough hang off the chain as single leaves, which
costs the draft nothing and lets one verify pass try both. Where its first token keeps being
rejected (text it does not know) it sits out a few steps, doubling, so a poor fit costs little.

The vertical cascade (with n-gram tiers): the n-gram drafter's best chain rides along in the
draft's catch-up forward, so the draft checks it in one pass instead of drafting it token by
token; the agreed prefix starts the draft's chain. Every n-gram candidate also stays in the tree
with its own estimates, and the planner keeps whatever pays.

Whether to run the draft at all is measured, not assumed (engine/throughput_gate.py): per
context (how long the n-gram tiers' guess is), steps with and without the draft model are timed
end to end, and the draft runs where it has delivered more tokens per second. Where the n-gram
tiers already guess well, or the text is one the draft does not know, it stays idle. Coming back
after idling means first feeding it what it missed (a whole prompt, at a request's start): that
backlog is a switching cost, fed in its own forward and left out of the timing, so the gate
compares what drafting costs step after step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_spec.drafters.base import DraftBudget, Drafter
from edge_spec.drafters.draft_vocab import DraftVocabulary
from edge_spec.engine.throughput_gate import ThroughputGate
from edge_spec.engine.tree import ROOT, CandidateTree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DraftModelConfig:
    """Knobs of the draft-model drafter."""

    max_depth: int = 8  # longest chain drafted per step
    min_chance: float = 0.25  # stop drafting when the chain's calibrated chance falls below this
    min_sibling_prob: float = 0.15  # a runner-up this likely is added as a leaf
    sibling_depths: int = 3  # runner-ups only at the first few depths
    max_rest: int = 8  # after repeated misses, steps the draft sits out (doubling up to this)
    gated: bool = True  # run the draft only where it has paid (False: every step, for tests)


class DraftModelDrafter(Drafter):
    """Drafts with SESSION, a small model in the spec layout sharing the target's tokenizer."""

    name = "draft"

    def __init__(
        self,
        session,  # noqa: ANN001  (a runtimes TargetSession for the draft graph)
        shared_vocab: int,
        config: DraftModelConfig | None = None,
        ngram: Drafter | None = None,
        vocab: DraftVocabulary | None = None,
    ):
        self.session = session
        self.shared_vocab = shared_vocab
        self.vocab = vocab  # a reduced-vocabulary draft: its ids are mapped in and out
        self.config = config or DraftModelConfig()
        self.ngram = ngram
        if ngram is not None:
            self.name = "auto"
        self.history: list[int] = []
        self.cached: list[int] = []  # the tokens whose K/V the draft's cache holds, in order
        self.last_chain: list[int] = []
        self.last_probs: list[float] = []
        # per-depth calibration of the draft's own probabilities (accepted vs predicted)
        self._accepted = np.zeros(self.config.max_depth + 1)
        self._predicted = np.zeros(self.config.max_depth + 1)
        self._misses = 0  # steps in a row whose first drafted token was rejected
        self._rest = 0  # steps left before the draft model drafts again
        # with or without the draft model, per guess length; a retry of a losing draft costs a
        # catch-up forward, so a draft that keeps losing is retried more rarely than a tree, and
        # it must beat the n-gram tiers alone by 5% (measured in a chat: ties lost 6% to plain)
        self.gate = ThroughputGate(max_retry_every=256, margin=0.05)
        self._timing: tuple[int, bool, float] | None = None  # this step's (context, drafted, start)

    def reset(self) -> None:
        # the draft's cache is kept: the next request's history shares a prefix with it (a chat's
        # earlier turns), and catching up cuts the cache back to what they share
        self.history, self.last_chain, self.last_probs = [], [], []
        self._misses = self._rest = 0
        self._timing = None
        if self.ngram is not None:
            self.ngram.reset()

    def observe(self, tokens: Sequence[int]) -> None:
        if self._timing is not None:
            context, drafted, start = self._timing
            self.gate.record(context, drafted, len(tokens), time.perf_counter() - start)
            self._timing = None
        self._learn(tokens)
        self.history.extend(int(t) for t in tokens)
        if self.ngram is not None:
            self.ngram.observe(tokens)

    def close(self) -> None:
        if self.ngram is not None:
            self.ngram.close()

    def propose(self, budget: DraftBudget) -> CandidateTree:
        depth_limit = min(budget.max_depth, self.config.max_depth)
        if depth_limit <= 0 or not self.history:
            return CandidateTree()
        start = time.perf_counter()
        guess_tree = self.ngram.propose(budget) if self.ngram is not None else CandidateTree()
        if self._rest > 0:
            # the draft keeps missing here (text it does not know): let it sit out a few steps,
            # the n-gram tiers still propose; catching up later is one batched forward
            self._rest -= 1
            return guess_tree
        guess = _best_chain(guess_tree)[:depth_limit]
        context = 0 if not guess else 1 if len(guess) < 4 else 2  # no guess, a short one, a long one
        drafted = self.gate.choose(context) if self.config.gated else True
        if not drafted:
            self._timing = (context, False, start)
            return guess_tree
        self._timing = (context, True, start + self._feed_backlog())

        # catch up: the history the draft has not seen, then the n-gram guess, in one pass
        probs, agreed = self._catch_up(guess)
        chain = guess[:agreed]
        chain_probs = [float(probs[i][t]) for i, t in enumerate(chain)]
        alternatives: list[tuple[int, int, float]] = []  # (depth, token, prob)
        dist = probs[agreed]
        chance = float(np.prod([self._calibrated(d + 1, p) for d, p in enumerate(chain_probs)]))
        while len(chain) < depth_limit:
            token = int(np.argmax(dist))
            prob = float(dist[token])
            chance *= self._calibrated(len(chain) + 1, prob)
            if len(chain) < self.config.sibling_depths:
                runner = _runner_up(dist, token)
                if dist[runner] >= self.config.min_sibling_prob:
                    alternatives.append((len(chain), runner, float(dist[runner])))
            chain.append(token)
            chain_probs.append(prob)
            if chance < self.config.min_chance or len(chain) >= depth_limit:
                break
            dist = self._step(token)

        self.last_chain, self.last_probs = chain, chain_probs
        tree = CandidateTree()
        tree.add_path(chain, "draft", [self._calibrated(d + 1, p) for d, p in enumerate(chain_probs)], budget.max_nodes)
        chain_nodes = len(tree)  # the chain's nodes are 0..len-1 in order (fewer if max_nodes cut it)
        for depth, token, prob in alternatives:
            if depth <= chain_nodes:
                under = ROOT if depth == 0 else depth - 1
                tree.add_path([token], "draft-alt", [prob], budget.max_nodes, under=under)
        for leaf in _leaves(guess_tree):
            path = guess_tree.path_to(leaf)
            tree.add_path(
                guess_tree.tokens[path].tolist(),
                [guess_tree.sources[i] for i in path],
                guess_tree.probs[path].tolist(),
                budget.max_nodes,
            )
        return tree

    # -- the draft's cache --------------------------------------------------------------------

    def _catch_up(self, guess: list[int]) -> tuple[list[np.ndarray], int]:
        """Feed the unseen history plus GUESS; keep the history and the guess's agreed prefix.

        Returns the draft's distributions after the history and after each agreed guess token,
        and how many guess tokens the draft agrees with (its argmax, token by token).
        """
        common = self._common_prefix()
        self.session.truncate(common)
        new = self.history[common:]
        feed = np.asarray(new + guess, dtype=np.int64)
        rows = np.arange(len(new) - 1, feed.size)
        logits = self.session.forward(self._draft_ids(feed), logit_rows=rows).logits
        probs = [self._distribution(row) for row in logits]
        agreed = 0
        while agreed < len(guess) and int(np.argmax(probs[agreed])) == guess[agreed]:
            agreed += 1
        self.session.keep(np.arange(len(new) + agreed))
        self.cached = self.history + guess[:agreed]
        return probs, agreed

    def _common_prefix(self) -> int:
        """How many history tokens the draft's cache already holds (at least one is left to feed)."""
        common = 0
        limit = min(len(self.cached), len(self.history) - 1)
        while common < limit and self.cached[common] == self.history[common]:
            common += 1
        return common

    def _feed_backlog(self) -> float:
        """Feed the unseen history but its last step's worth now; the seconds it took.

        After the draft idled, this is most of what it missed; what is left rides along in the
        catch-up forward as usual, so a step after a backlog costs what any other step costs.
        """
        common = self._common_prefix()
        backlog = len(self.history) - common - (self.config.max_depth + 1)
        if backlog <= 0:
            return 0.0
        begin = time.perf_counter()
        self.session.truncate(common)
        chunk = np.asarray(self.history[common : common + backlog], dtype=np.int64)
        self.session.forward(self._draft_ids(chunk), logit_rows=np.array([backlog - 1]))
        self.session.commit()
        self.cached = self.history[: common + backlog]
        return time.perf_counter() - begin

    def _step(self, token: int) -> np.ndarray:
        """Feed one drafted token; the distribution after it."""
        logits = self.session.forward(self._draft_ids(np.asarray([token]))).logits
        self.session.commit()
        self.cached.append(token)
        return self._distribution(logits[-1])

    def _draft_ids(self, tokens: np.ndarray) -> np.ndarray:
        return tokens if self.vocab is None else self.vocab.to_draft(tokens)

    def _distribution(self, logits: np.ndarray) -> np.ndarray:
        """The draft's next-token distribution over the target's (shared) vocabulary."""
        if self.vocab is None:
            return _softmax(logits[: self.shared_vocab])
        return self.vocab.to_target_probs(_softmax(logits[: self.vocab.size]))[: self.shared_vocab]

    # -- calibration --------------------------------------------------------------------------

    def _calibrated(self, depth: int, prob: float) -> float:
        d = min(depth, self.config.max_depth)
        return min(1.0, prob * (self._accepted[d] + 2.0) / (self._predicted[d] + 2.0))

    def _learn(self, emitted: Sequence[int]) -> None:
        """Score last step's chain against what was emitted (a prefix of it was accepted)."""
        if not self.last_chain:
            return
        path = list(emitted[:-1])  # the accepted path; the last emitted token is the bonus
        accepted = 0
        while accepted < min(len(path), len(self.last_chain)) and path[accepted] == self.last_chain[accepted]:
            accepted += 1
        for depth, prob in enumerate(self.last_probs[: accepted + 1], 1):
            d = min(depth, self.config.max_depth)
            self._predicted[d] += prob
            self._accepted[d] += depth <= accepted
        self._misses = 0 if accepted else self._misses + 1
        if self._misses >= 2:  # back off: 1, 2, 4, ... steps without the draft
            self._rest = min(2 ** (self._misses - 2), self.config.max_rest)
        self.last_chain, self.last_probs = [], []


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - float(np.max(logits))
    e = np.exp(z)
    return e / e.sum()


def _runner_up(dist: np.ndarray, top: int) -> int:
    two = np.argpartition(-dist, 1)[:2]
    return int(two[1] if two[0] == top else two[0])


def _leaves(tree: CandidateTree) -> list[int]:
    has_child = np.zeros(len(tree), dtype=bool)
    has_child[tree.parents[tree.parents != ROOT]] = True
    return np.flatnonzero(~has_child).tolist()


def _best_chain(tree: CandidateTree) -> list[int]:
    """The tokens on the path to the likeliest deepest node (empty tree: no guess)."""
    if len(tree) == 0:
        return []
    chance = tree.path_probability()
    leaves = _leaves(tree)
    best = max(leaves, key=lambda i: (chance[i] * len(tree.path_to(i)), -i))
    return tree.tokens[tree.path_to(best)].tolist()
