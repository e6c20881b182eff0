"""The planner's verify-cost curve learns what steps actually cost, and the tree follows it."""

from __future__ import annotations

import numpy as np

from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.engine.tree import CandidateTree


def _chain(probs: list[float]) -> CandidateTree:
    tree = CandidateTree()
    tree.add_path(list(range(10, 10 + len(probs))), "test", probs, 32)
    return tree


def test_curve_moves_toward_observed_steps() -> None:
    cost = VerifyCost(sizes=[1, 8], seconds=[0.010, 0.010], learn=0.5)
    for _ in range(20):
        cost.observe(4, 0.020)
    assert abs(float(cost(4)) - 0.020) < 1e-4
    assert float(cost(1)) == 0.010 and float(cost(8)) == 0.010  # sizes never run keep the measured point
    frozen = VerifyCost(sizes=[1, 8], seconds=[0.010, 0.010], learn=0.0)
    frozen.observe(4, 0.020)
    assert float(frozen(4)) == 0.010


def test_planner_stops_drafting_where_steps_cost_more_than_they_yield() -> None:
    """A chain each of whose tokens is accepted half the time pays on a flat curve; once steps of
    every size are seen to cost twice a plain step, it no longer does and nothing is verified."""
    planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[0.01, 0.01], learn=0.5))
    assert len(planner.plan(_chain([0.5, 0.5, 0.5]))) == 3
    for _ in range(30):
        planner.note_step(1, 0.01)
        for size in range(2, 6):
            planner.note_step(size, 0.02)
    assert len(planner.plan(_chain([0.5, 0.5, 0.5]))) == 0
    assert np.isclose(planner.cost.ratio(3), 2.0, rtol=1e-3)
