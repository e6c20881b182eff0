"""The device's verify-cost curve: seconds for one target pass over T tokens, T = 1..64.

Measured once per (bundle file, backend, device, numerics) and cached in the edge-spec cache
directory, because it decides how big a draft tree pays: on a 2-core CPU at bf16 a pass over 8
tokens costs about 1.15x one token, at f32 about 1.6x, so the right tree differs by numerics.

The curve is the steady cost (the same T pass after pass). A pass whose T differs from the
previous one's costs more on some backends: OpenVINO's CPU plugin infers every node's shapes
again, +4 ms on SmolLM2-135M (a 2-core EPYC: T=8 steady 14 ms, alternating with T=9 18 ms), a
third of a one-token step. That extra is measured too (`switch_s`) so the planner can weigh it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from edge_spec.bench.machine import least_stolen
from edge_spec.bundle import atomic_write_text, cache_dir
from edge_spec.engine.planner import VerifyCost
from edge_spec.runtimes.base import TargetSession

log = logging.getLogger(__name__)

# Every size up to 6: fp16 weights at f32 on a 2-core EPYC cost 1.2x one token at T=4 and 2.2x
# at T=5 (the CPU plugin changes kernels), a knee that interpolating from 4 to 6 would hide.
SIZES = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64)
CONTEXT = 256  # past entries during the measurement: a typical prompt's size
ROUNDS = 4  # every size is timed once per round; its cost is its best round
REPEATS = 3  # passes per size and round; the first after a size change is not counted
SWITCHES = (1, 8, 4, 16, 1, 4, 8, 16) * 2  # each pass a different T from the one before
MAX_STEAL = 0.05  # a measurement that lost more CPU time than this to the hypervisor is redone
# Names the method in the cache: a curve cached by an older method is measured again. The
# first method timed each size in one block, size after size: on a VM whose hypervisor stole
# CPU in bursts, T=1 was timed in a slow moment and T=2..4 came out at 1.03x of it where they
# cost 1.2x, and the planner padded every pass to 4 tokens (exact mode on code 63.0 tok/s,
# against 67.9 with the curve measured in rounds; 2-core Xeon VM, SmolLM2-135M, fp16).
# "-chains": the paged session verifies short chains as one-token subsequences since 2026-12-04,
# which changes what T=2..4 cost.
METHOD = "rounds4-chains"


def verify_cost(session: TargetSession, identity: str) -> VerifyCost:
    """The cached curve for IDENTITY (a string naming bundle, backend, device, numerics), or measure it."""
    store = cache_dir() / "verify_cost.json"
    known = _read(store)
    entry = known.get(identity)
    if entry is not None and entry.get("sizes") == list(SIZES) and entry.get("method") == METHOD:
        return VerifyCost(sizes=entry["sizes"], seconds=entry["seconds"], switch_s=entry["switch_s"])
    cost, steal, _ = least_stolen(lambda: measure(session), MAX_STEAL, "verify-cost curve")
    ratios = {size: round(t / cost.seconds[0], 2) for size, t in zip(cost.sizes, cost.seconds)}
    log.info(
        "verify cost on %s (T: t(T)/t(1)): %s; another T than the last pass's: +%.1f ms; %.0f%% stolen",
        identity,
        ratios,
        cost.switch_s * 1e3,
        steal * 100,
    )
    known[identity] = {"sizes": cost.sizes, "seconds": cost.seconds, "switch_s": cost.switch_s, "method": METHOD}
    store.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(store, json.dumps(known, indent=1))
    return cost


def measure(session: TargetSession, context: int = CONTEXT, rounds: int = ROUNDS, repeats: int = REPEATS) -> VerifyCost:
    """The best time of a causal pass over T tokens after CONTEXT committed ones, the same T
    pass after pass, and the median extra time of a pass whose T differs from the previous one's.

    The sizes take turns round by round, so a slow moment of a shared machine slows one round
    of every size rather than every pass of one size (which would skew the ratios the planner
    lives by). The session is reset before and after; its cache holds nothing of this afterwards.
    """
    context = min(context, session.spec.max_positions - max(SIZES) - 1)
    rng = np.random.default_rng(0)
    session.reset()
    session.reserve(context + max(SIZES))
    session.forward(rng.integers(0, session.vocab_size, context), logit_rows=np.array([context - 1]))
    session.commit()

    def timed(size: int) -> float:
        tokens = rng.integers(0, session.vocab_size, size)
        begin = time.perf_counter()
        session.forward(tokens)
        seconds = time.perf_counter() - begin
        session.truncate(context)
        return seconds

    best = dict.fromkeys(SIZES, float("inf"))
    for _ in range(rounds):
        for size in SIZES:
            steady = [timed(size) for _ in range(max(repeats, 2))][1:]  # the first pass switched size
            best[size] = min(best[size], *steady)
    # a longer pass never costs less: smooth out timer noise so the planner sees a monotone curve
    seconds = np.maximum.accumulate([best[size] for size in SIZES])
    cost = VerifyCost(sizes=list(SIZES), seconds=seconds.tolist())
    extra = [timed(size) - float(cost(size)) for size in SWITCHES]
    session.reset()
    cost.switch_s = max(0.0, float(np.median(extra)))
    return cost


def _read(store: Path) -> dict:
    try:
        return json.loads(store.read_text())
    except (OSError, ValueError):
        return {}
