"""Pass sizes where a switch of size costs extra: pad while that is cheaper, switch down once
the pads have cost as much as a switch (ski rental), give up a size that rejected nodes hold
once it has lost more than a switch, and never pad where switches are free."""

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


def _held_rows(planner: DraftPlanner, passes: int, accepted: int) -> list[int]:
    """Rows of PASSES plans of an unlikely 7-node chain, each with ACCEPTED nodes accepted."""
    rows = []
    for _ in range(passes):
        tree = planner.plan(CandidateTree.chain(list(range(20, 27)), "test", [0.1] * 7))
        rows.append(planner.pass_rows)
        planner.observe(tree, list(range(min(accepted, len(tree)))))
    return rows


def test_a_size_held_by_rejected_nodes_is_given_up_once_it_lost_a_switch() -> None:
    # at 8 rows, 7 unlikely nodes beat a padded pass and a switch down, and leave no pads to rent
    planner = DraftPlanner(COST, gated=False)
    planner.observe(planner.plan(_chain(7)), list(range(7)))
    # each held pass that accepts nothing costs 0.25 s more than a one-token step: after five,
    # more than the 1.0 s switch; on steady costs only the first node (a second row costs
    # 0.036 s, it is expected to be accepted 0.08 times) still pays
    assert _held_rows(planner, 7, accepted=0) == [8, 8, 8, 8, 8, 2, 2]


def test_a_held_size_whose_nodes_are_accepted_stays() -> None:
    planner = DraftPlanner(COST, gated=False)
    planner.observe(planner.plan(_chain(7)), list(range(7)))
    assert _held_rows(planner, 8, accepted=1) == [8] * 8  # one accepted node pays a pass's 0.25 s


def test_holding_can_be_left_to_the_plans() -> None:
    planner = DraftPlanner(COST, gated=False)
    planner.forget_held = False  # the planner before 2026-12-04, for A/B benchmarks
    planner.observe(planner.plan(_chain(7)), list(range(7)))
    assert _held_rows(planner, 7, accepted=0) == [8] * 7
