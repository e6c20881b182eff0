"""The throughput gate picks, per context, the arm that delivered more tokens per second."""

from __future__ import annotations

import numpy as np

from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.engine.throughput_gate import ThroughputGate
from edge_spec.engine.tree import CandidateTree


def run(gate: ThroughputGate, context: int, steps: int, costly_rate: float, cheap_rate: float) -> list[bool]:
    """STEPS steps in CONTEXT where each arm emits tokens at the given rate; the choices made."""
    choices = []
    for _ in range(steps):
        costly = gate.choose(context)
        choices.append(costly)
        tokens = 3 if costly else 1
        gate.record(context, costly, tokens, tokens / (costly_rate if costly else cheap_rate))
    return choices


def test_each_arm_is_tried_then_the_faster_wins() -> None:
    gate = ThroughputGate(min_trials=3, retry_every=8, max_retry_every=64)
    choices = run(gate, 0, 200, costly_rate=50.0, cheap_rate=60.0)
    assert choices[:6] == [True] * 3 + [False] * 3
    later = choices[6:]
    # the losing (costly) arm is only retried, ever less often: 8, 16, 32, 64, 64 ... steps apart
    retries = [i for i, c in enumerate(later) if c]
    assert 3 <= len(retries) <= 8, retries
    gaps = np.diff(retries)
    assert (gaps[1:] >= gaps[:-1]).all() and gaps.max() <= 64


def test_the_costly_arm_wins_where_it_pays() -> None:
    gate = ThroughputGate()
    choices = run(gate, 1, 100, costly_rate=90.0, cheap_rate=60.0)
    assert sum(choices[6:]) >= 0.9 * len(choices[6:])


def test_contexts_are_independent_and_a_change_is_noticed() -> None:
    gate = ThroughputGate(keep=0.8)
    run(gate, 0, 60, costly_rate=40.0, cheap_rate=60.0)  # drafting loses in context 0
    run(gate, 2, 60, costly_rate=120.0, cheap_rate=60.0)  # and wins in context 2
    assert gate.share_costly()[0] < 0.25 < 0.75 < gate.share_costly()[2]
    # context 0 starts to pay: a retry notices it and the gate switches over
    switched = run(gate, 0, 200, costly_rate=120.0, cheap_rate=60.0)
    assert sum(switched[-50:]) >= 45  # the cheap arm now only gets its occasional retry


def test_planner_stops_verifying_trees_that_do_not_pay() -> None:
    """A band whose verified trees deliver fewer tokens per second than the root alone is skipped."""
    planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0]), gated=True)
    tree = CandidateTree()
    tree.add_path([5, 6], "ngram", [0.9, 0.9], 32)
    verified = []
    for _ in range(40):
        planned = planner.plan(tree.subtree(np.arange(len(tree))))
        verified.append(len(planned) > 0)
        # measured: a verify pass of the tree takes 3x a plain step and is never accepted
        planner.note_step(seconds=0.03 if len(planned) else 0.01, forward_s=0.0, draft_s=0.0, tokens=1)
    assert verified[:3] == [True] * 3
    assert sum(verified[6:]) <= 6


def test_ungated_planner_trusts_its_estimates() -> None:
    """The default: no gate."""
    planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0]))
    tree = CandidateTree()
    tree.add_path([5, 6], "ngram", [0.9, 0.9], 32)
    for _ in range(20):
        assert len(planner.plan(tree.subtree(np.arange(len(tree))))) == 2
        planner.note_step(seconds=0.03, forward_s=0.0, draft_s=0.0, tokens=1)
