"""How much of a drafter's tree is worth verifying: expected tokens per second, measured.

A pass over T tokens costs t(T) seconds (the device's verify-cost curve, measured once per
bundle, backend, device and numerics: see verify_cost.py). A tree whose nodes are accepted with
probabilities a_i yields 1 + sum(a_i) tokens per pass (the bonus token always comes). The planner
keeps the parents-closed subset of nodes, most likely first, that maximises
(1 + sum a_i) / (t(1 + n) + overhead); none at all when a single token is the best rate.

a_i is the product, down the path, of each node's conditional acceptance: the drafter's own
estimate, calibrated per (source, depth) by what the target actually accepted so far.

The estimates can still be wrong where it matters most, on text where little is accepted and a
verify pass costs more in situ than the cached curve says. A gate can overrule them from what
happened (throughput_gate.py, `gated=True`): per band of expected accepted tokens, steps that
verified the tree are timed against steps that verified the root alone, and the band's faster
way wins. It is off by default: in interleaved A/Bs on a 2-core Xeon VM (benchmarks/README.md,
ngram_db_ab.py) the ungated planner was ahead in every run, 4-5% on code (exact) and 2-8% on
Spec-Bench, since a few slow timed steps (a size switch, the hypervisor) shut a whole band,
good drafts with it, for up to 64 steps, while on writing, the text it was meant to protect,
the two were within noise of each other (0.91-0.97x plain either way).

Where a pass over another T than the last pass's costs extra (VerifyCost.switch_s: the OpenVINO
CPU plugin infers every shape again), a plan of another size pays half that extra (the new size
usually holds for the next steps, which then pay none), and a smaller plan may instead be padded
to the last pass's rows when that is cheaper: `pass_rows` tells the loop how many rows to run.
Padding is renting, switching is buying (ski rental): once the pads' extra seconds since the
last unpadded pass add up to one switch, the next small plan switches down instead. Rows filled
with nodes that the target rejects are rent too, though no pad shows it: once a held size has
cost more than a switch beyond one-token steps, less what its accepted nodes saved, the next plan
is made on the steady costs (`observe`; interleaved A/Bs on a 2-core EPYC: code exact +4.7%,
code default +1.0%, Spec-Bench +1.2% decode, benchmarks/README.md, `loop_ab.py`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from edge_spec.engine.throughput_gate import ThroughputGate
from edge_spec.engine.tree import ROOT, CandidateTree

# bands of a planned tree's expected accepted tokens, each gated on its own
GAIN_BANDS = np.array([0.25, 0.5, 1.0, 2.0])
# share of a size switch charged to the step that makes it: with the whole of it, a pass padded
# to the last size always beats a switch back to one token, and the pads would never stop
SWITCH_SHARE = 0.5


@dataclass
class VerifyCost:
    """t(T): seconds for one pass over T new tokens, interpolated between measured sizes, when
    the pass before had the same T; switch_s: the extra a pass pays when it did not."""

    sizes: list[int]
    seconds: list[float]
    switch_s: float = 0.0

    def __call__(self, count: int | np.ndarray) -> np.ndarray:
        return np.interp(count, self.sizes, self.seconds)

    def ratio(self, count: int) -> float:
        return float(self(count) / self(1))


@dataclass
class Calibration:
    """Accepted vs predicted per (source, depth): the factor that corrects a drafter's guesses."""

    pseudo: float = 2.0
    accepted: dict = field(default_factory=lambda: defaultdict(float))
    predicted: dict = field(default_factory=lambda: defaultdict(float))

    def factor(self, source: str, depth: int) -> float:
        key = (source, min(depth, 16))
        return (self.accepted[key] + self.pseudo) / (self.predicted[key] + self.pseudo)

    def fade(self, keep: float) -> None:
        """Weigh earlier evidence down (a new request may be another kind of text)."""
        for table in (self.accepted, self.predicted):
            for key in table:
                table[key] *= keep

    def record(self, source: str, depth: int, prior: float, accepted: bool) -> None:
        key = (source, min(depth, 16))
        self.predicted[key] += prior
        self.accepted[key] += 1.0 if accepted else 0.0


class DraftPlanner:
    """Cuts each proposed tree to the size that maximises expected tokens per second."""

    def __init__(self, cost: VerifyCost, max_nodes: int = 32, gated: bool = False):
        """GATED=True lets the throughput gate overrule the estimates per band (see above)."""
        self.cost = cost
        self.max_nodes = max_nodes
        self.calibration = Calibration()
        self.overhead_s = 0.0  # per-step time outside the target's forward (EMA)
        self.gate = ThroughputGate() if gated else None
        self._gated: tuple[int, bool] | None = None  # this step's (gain band, tree verified)
        self._priors = np.zeros(0)
        self.pass_rows = 1  # rows of the coming verify pass: root, planned nodes, pads
        self._last_rows: int | None = None  # rows of the pass before (None: unknown)
        self._pad_seconds = 0.0  # what pads have cost since the last pass without them
        self._held_loss = 0.0  # what holding pass_rows has lost against one-token steps (see observe)
        self._holding = False  # the coming pass has the last one's rows (more than one)
        self.forget_held = True  # False: hold a size as long as the plans allow (A/B benchmarks)

    def new_request(self) -> None:
        """Halve what was learned so far: a tier that failed on one prompt can recover on the next.

        The prefill in between ran another shape, so the next pass switches whatever its size.
        """
        self.calibration.fade(0.5)
        self._last_rows = None
        self._pad_seconds = 0.0
        self._held_loss = 0.0

    def plan(self, tree: CandidateTree) -> CandidateTree:
        """The best prefix (by acceptance chance) of TREE, with calibrated probs set; sets pass_rows."""
        if self.forget_held and self._held_loss > self.cost.switch_s:
            # the held size has lost more than a switch down would cost: plan on steady costs
            self._last_rows, self._held_loss = None, 0.0
        if len(tree) == 0:
            return self._settle(tree)
        depths = tree.depths
        conditional = np.array(
            [min(1.0, p * self.calibration.factor(s, d)) for p, s, d in zip(tree.probs, tree.sources, depths)]
        )
        raw, tree.probs = tree.probs, conditional
        chance = tree.path_probability()
        order = np.lexsort((np.arange(len(tree)), -chance))[: self.max_nodes]
        gain = 1.0 + np.concatenate([[0.0], np.cumsum(chance[order])])
        _, time = self._passes(np.arange(order.size + 1))
        best = int(np.argmax(gain / time))
        if not best:
            return self._settle(CandidateTree())
        if self.gate is not None:
            band = int(np.searchsorted(GAIN_BANDS, gain[best] - 1.0, side="right"))
            verify = self.gate.choose(band)
            self._gated = (band, verify)
            if not verify:
                return self._settle(CandidateTree())
        kept = np.sort(order[:best])
        planned = tree.subtree(kept)
        self._priors = raw[kept]  # observe() calibrates against the drafter's own guesses
        return self._settle(planned)

    def _passes(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each count of NODES: the rows of the cheapest pass verifying them, and its seconds."""
        rows = nodes + 1
        seconds = self.cost(rows)
        last, switch = self._last_rows, self.cost.switch_s
        if last is not None and switch > 0.0:
            seconds = seconds + np.where(rows != last, SWITCH_SHARE * switch, 0.0)
            rent = self._pad_seconds + self.cost(last) - self.cost(rows)
            padded = (rows < last) & (self.cost(last) < seconds) & (rent <= switch)
            rows = np.where(padded, last, rows)
            seconds = np.where(padded, self.cost(last), seconds)
        return rows, seconds + self.overhead_s

    def _settle(self, planned: CandidateTree) -> CandidateTree:
        """Fix the coming pass's rows for PLANNED; return it."""
        rows = int(self._passes(np.array([len(planned)]))[0][0])
        pads = rows - len(planned) - 1
        self._holding = rows > 1 and rows == self._last_rows
        self._pad_seconds = self._pad_seconds + float(self.cost(rows) - self.cost(rows - pads)) if pads else 0.0
        self.pass_rows = self._last_rows = rows
        return planned

    def observe(self, tree: CandidateTree, path: list[int]) -> None:
        """Record, for each node whose parent was accepted, whether it was accepted too.

        Also what the pass just verified cost beyond a one-token step, less what its accepted
        nodes saved (one step each), summed while its size holds. A size held for free, its rows
        filled with nodes that are never accepted, never pays a switch or a pad, so neither the
        switch charge nor the pads' rent lets the plan go back to one token: on Spec-Bench's
        writing prompts, forty 3-row passes in a row at tau 1.06 (2-core EPYC). When that loss
        outgrows a switch, plan() forgets the held size and plans on the steady costs.
        """
        if self._holding:
            step = float(self.cost(1))
            extra = float(self.cost(self.pass_rows)) - step - len(path) * step
            self._held_loss = max(0.0, self._held_loss + extra)
        else:
            self._held_loss = 0.0
        if len(tree) == 0:
            return
        on_path = set(path)
        reached = on_path | {ROOT}
        depths = tree.depths
        for i, parent in enumerate(tree.parents):
            if int(parent) in reached:
                self.calibration.record(tree.sources[i], int(depths[i]), float(self._priors[i]), i in on_path)

    def note_step(self, seconds: float, forward_s: float, draft_s: float, tokens: int) -> None:
        """A step took SECONDS in all (FORWARD_S in the target, DRAFT_S drafting) and emitted TOKENS.

        The gate is charged the step without its drafting: that was spent before the planner
        chose, whatever it chose.
        """
        overhead = seconds - forward_s
        self.overhead_s = overhead if self.overhead_s == 0.0 else 0.9 * self.overhead_s + 0.1 * overhead
        if self._gated is not None:
            band, verified = self._gated
            self.gate.record(band, verified, tokens, seconds - draft_s)
            self._gated = None
