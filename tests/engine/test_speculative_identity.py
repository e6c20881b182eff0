"""The speculative loop emits exactly plain greedy decoding's tokens, whatever is drafted.

Exact numerics (f32) on every architecture and both backends: the n-gram drafter, and scripted
drafters that propose the target's own tokens (all accepted), random tokens (none accepted),
and trees that are right up to a chosen depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edge_spec import Pipeline
from edge_spec.drafters.base import DraftBudget, Drafter
from edge_spec.engine.generate import StopRule
from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.engine.speculative import speculative_decode
from edge_spec.engine.tree import ROOT, CandidateTree

REPETITIVE = "x = 1\ny = 2\nz = 3\n" * 6  # long accepted runs once the model repeats it
PROMPTS = ["def fibonacci(n):\n    ", REPETITIVE, "<|im_start|>user\nHi!<|im_end|>\n"]
NEW = 48
FLAT = VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0])  # every node pays: the planner keeps the whole tree


def test_ngram_equals_plain(zoo, arch, backend) -> None:  # noqa: ANN001
    bundle = zoo.bundle(arch)
    plain = Pipeline.load(bundle, backend=backend, exact=True)
    spec = Pipeline.load(bundle, backend=backend, exact=True, drafter="ngram", model_db=None)
    rng = np.random.default_rng(0)
    noise = rng.integers(3, plain.session.vocab_size, 40).tolist()  # nothing to look up: constant rejection
    for prompt in [*PROMPTS, noise]:
        ids = plain.encode(prompt)
        want = plain.generate(ids, max_new_tokens=NEW)
        got = spec.generate(ids, max_new_tokens=NEW)
        assert got.tokens == want.tokens, f"{arch}/{backend}: ngram diverged on {str(prompt)[:30]!r}"
        assert got.stats.target_forwards <= want.stats.target_forwards
        assert got.stats.new_tokens == want.stats.new_tokens


class ScriptedDrafter(Drafter):
    """Drafts from a known answer: right for `right` tokens, then wrong; optionally a wrong
    sibling first at every level, so acceptance must pick the right branch."""

    name = "scripted"

    def __init__(self, answer: list[int], prompt_len: int, right: int, depth: int, vocab: int, decoy: bool = False):
        self.answer, self.prompt_len, self.right, self.depth, self.vocab = answer, prompt_len, right, depth, vocab
        self.decoy = decoy
        self.history: list[int] = []

    def reset(self) -> None:
        self.history = []

    def observe(self, tokens: Sequence[int]) -> None:
        self.history.extend(tokens)

    def propose(self, budget: DraftBudget) -> CandidateTree:
        done = len(self.history) - self.prompt_len
        truth = self.answer[done : done + min(self.depth, budget.max_depth)]
        chain = [t if i < self.right else (t + 1) % self.vocab for i, t in enumerate(truth)]
        tree = CandidateTree()
        parent = ROOT
        for token, true in zip(chain, truth):
            if self.decoy:
                tree.add_path([(true + 7) % self.vocab], "decoy", [0.5], budget.max_nodes, under=parent)
            tree.add_path([token], "script", [0.9], budget.max_nodes, under=parent)
            parent = len(tree) - 1
        return tree


@pytest.mark.parametrize(
    "right,depth,decoy",
    [(99, 6, False), (0, 6, False), (2, 5, False), (3, 4, True)],
    ids=["all-accepted", "none-accepted", "partial-at-2", "decoy-siblings"],
)
def test_scripted_drafters(zoo, backend, right: int, depth: int, decoy: bool) -> None:  # noqa: ANN001
    pipe = Pipeline.load(zoo.bundle("llama"), backend=backend, exact=True)
    ids = pipe.encode("def fibonacci(n):\n    ")
    want = pipe.generate(ids, max_new_tokens=NEW, config=None).tokens
    rule = StopRule(max_new_tokens=NEW)
    drafter = ScriptedDrafter(want, len(ids), right, depth, pipe.session.vocab_size, decoy)
    pipe.session.reset()
    got = speculative_decode(pipe.session, drafter, DraftPlanner(FLAT, gated=False), ids, rule)
    assert got.tokens == want
    accepted = min(right, depth)
    per_step = accepted + 1
    # prefill, then one pass per step of `per_step` tokens (the last step may be short)
    assert got.stats.target_forwards == 1 + -(-(NEW - 1) // per_step)
    if accepted:
        assert got.stats.accepted_per_depth[:accepted] == [1.0] * accepted
    if right < depth:
        assert got.stats.accepted_per_depth[accepted] == 0.0
    assert pipe.session.length == len(ids) + NEW - 1


def test_forced_rejection_does_not_leak(zoo, backend) -> None:  # noqa: ANN001
    """200 rounds of a rejected 8-token draft: the cache holds exactly the emitted tokens."""
    pipe = Pipeline.load(zoo.bundle("qwen2"), backend=backend, exact=True)
    ids = pipe.encode("The capital of France is")
    rounds = 200
    want = pipe.generate(ids, max_new_tokens=rounds + 1, config=None).tokens
    drafter = ScriptedDrafter(want, len(ids), right=0, depth=8, vocab=pipe.session.vocab_size)
    pipe.session.reset()
    got = speculative_decode(
        pipe.session, drafter, DraftPlanner(FLAT, gated=False), ids, StopRule(max_new_tokens=rounds + 1)
    )
    assert got.tokens == want
    assert got.stats.target_forwards == rounds + 1
    assert pipe.session.length == len(ids) + rounds
    kv = pipe.session.kv
    if hasattr(kv, "used"):  # OpenVINO: dead slots are compacted away, not accumulated
        assert kv.compactions > 0
        assert kv.used - kv.length <= max(kv.min_dead, kv.length) + 9


class ShrinkingDrafter(ScriptedDrafter):
    """The scripted drafter with a draft length that changes every step (6, 1, 3, 0, ...)."""

    DEPTHS = (6, 1, 3, 0)

    def propose(self, budget: DraftBudget) -> CandidateTree:
        self.depth = self.DEPTHS[len(self.history) % len(self.DEPTHS)]
        return super().propose(budget)


def test_padded_passes_equal_plain(zoo, backend) -> None:  # noqa: ANN001
    """Where a switch of size costs extra, smaller trees run padded to the last pass's size:
    the pads change no token, and none of their K/V stays."""
    pipe = Pipeline.load(zoo.bundle("llama"), backend=backend, exact=True)
    ids = pipe.encode("def fibonacci(n):\n    ")
    want = pipe.generate(ids, max_new_tokens=NEW, config=None).tokens
    drafter = ShrinkingDrafter(want, len(ids), right=2, depth=6, vocab=pipe.session.vocab_size)
    sticky = VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0], switch_s=1.0)  # pads are free, switches not
    sizes = []
    forward = pipe.session.forward
    pipe.session.forward = lambda tokens, *args, **kwargs: sizes.append(len(tokens)) or forward(tokens, *args, **kwargs)
    pipe.session.reset()
    got = speculative_decode(
        pipe.session, drafter, DraftPlanner(sticky, gated=False), ids, StopRule(max_new_tokens=NEW)
    )
    assert got.tokens == want
    assert pipe.session.length == len(ids) + NEW - 1
    first = sizes.index(7, 1)  # the first 6-node tree (7 rows with its root)
    assert set(sizes[first:]) == {7}, f"later passes were not all padded to 7 rows: {sizes}"
    assert got.stats.drafted_tokens < 6 * (len(sizes) - first), "no step drafted fewer than 6 nodes"
