"""Pass sizes where a switch of size costs extra: pad while that is cheaper, switch down once
the pads have cost as much as a switch (ski rental), and never pad where switches are free."""

from __future__ import annotations

from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.engine.tree import CandidateTree

# one token 1.0 s, eight tokens 1.25 s; another size than the last pass's +1.0 s
COST = VerifyCost(sizes=[1, 8, 64], seconds=[1.0, 1.25, 8.0], switch_s=1.0)


def _chain(count: int) -> CandidateTree:
    return CandidateTree.chain(list(range(10, 10 + count)), "test", [0.9] * count)


def test_small_plans_are_padded_until_the_pads_cost_a_switch() -> None:
    planner = DraftPlanner(COST, gated=False)
    assert len(planner.plan(_chain(7))) == 7
    assert planner.pass_rows == 8
    rows = []
    for _ in range(6):
        assert len(planner.plan(CandidateTree())) == 0
        rows.append(planner.pass_rows)
    # each padded pass costs 0.25 s more than one token; four of them add up to the 1.0 s switch
    assert rows == [8, 8, 8, 8, 1, 1]


def test_a_pass_without_pads_resets_the_rent() -> None:
    planner = DraftPlanner(COST, gated=False)
    planner.plan(_chain(7))
    for _ in range(3):
        planner.plan(CandidateTree())
    planner.plan(_chain(7))  # fills the pass: no pads
    rows = []
    for _ in range(5):
        planner.plan(CandidateTree())
        rows.append(planner.pass_rows)
    assert rows == [8, 8, 8, 8, 1]


def test_no_pads_where_switching_is_free() -> None:
    planner = DraftPlanner(VerifyCost(sizes=COST.sizes, seconds=COST.seconds), gated=False)
    planner.plan(_chain(7))
    assert planner.pass_rows == 8
    planner.plan(CandidateTree())
    assert planner.pass_rows == 1
    planner.plan(_chain(2))
    assert planner.pass_rows == 3


def test_a_new_request_forgets_the_last_size() -> None:
    planner = DraftPlanner(COST, gated=False)
    planner.plan(_chain(7))
    planner.new_request()  # the prefill ran another shape: every size is a switch now
    planner.plan(CandidateTree())
    assert planner.pass_rows == 1
