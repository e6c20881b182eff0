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

from edge_spec.bundle import atomic_write_text, cache_dir
from edge_spec.engine.planner import VerifyCost
from edge_spec.runtimes.base import TargetSession

log = logging.getLogger(__name__)

# Every size up to 6: fp16 weights at f32 on a 2-core EPYC cost 1.2x one token at T=4 and 2.2x
# at T=5 (the CPU plugin changes kernels), a knee that interpolating from 4 to 6 would hide.
SIZES = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64)
CONTEXT = 256  # past entries during the measurement: a typical prompt's size
REPEATS = 5
SWITCHES = (1, 8, 4, 16, 1, 4, 8, 16) * 2  # each pass a different T from the one before


def verify_cost(session: TargetSession, identity: str) -> VerifyCost:
    """The cached curve for IDENTITY (a string naming bundle, backend, device, numerics), or measure it."""
    store = cache_dir() / "verify_cost.json"
    known = _read(store)
    entry = known.get(identity)
    if entry is not None and entry.get("sizes") == list(SIZES) and "switch_s" in entry:
        return VerifyCost(sizes=entry["sizes"], seconds=entry["seconds"], switch_s=entry["switch_s"])
    cost = measure(session)
    ratios = {size: round(t / cost.seconds[0], 2) for size, t in zip(cost.sizes, cost.seconds)}
    log.info(
        "verify cost on %s (T: t(T)/t(1)): %s; another T than the last pass's: +%.1f ms",
        identity,
        ratios,
        cost.switch_s * 1e3,
    )
    known[identity] = {"sizes": cost.sizes, "seconds": cost.seconds, "switch_s": cost.switch_s}
    store.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(store, json.dumps(known, indent=1))
    return cost


def measure(session: TargetSession, context: int = CONTEXT, repeats: int = REPEATS) -> VerifyCost:
    """Best-of-REPEATS time of a causal pass over T tokens after CONTEXT committed ones, and
    the median extra time of a pass whose T differs from the previous pass's.

    The session is reset before and after; its cache holds nothing of this afterwards.
    """
    context = min(context, session.spec.max_positions - max(SIZES) - 1)
    rng = np.random.default_rng(0)
    session.reset()
    session.reserve(context + max(SIZES))
    session.forward(rng.integers(0, session.vocab_size, context), logit_rows=np.array([context - 1]))
    session.commit()
    seconds = []
    for size in SIZES:
        best = float("inf")
        for _ in range(repeats):
            tokens = rng.integers(0, session.vocab_size, size)
            begin = time.perf_counter()
            session.forward(tokens)
            best = min(best, time.perf_counter() - begin)
            session.truncate(context)
        seconds.append(best)
    # a longer pass never costs less: smooth out timer noise so the planner sees a monotone curve
    cost = VerifyCost(sizes=list(SIZES), seconds=np.maximum.accumulate(seconds).tolist())
    extra = []
    for size in SWITCHES:
        tokens = rng.integers(0, session.vocab_size, size)
        begin = time.perf_counter()
        session.forward(tokens)
        extra.append(time.perf_counter() - begin - float(cost(size)))
        session.truncate(context)
    session.reset()
    cost.switch_s = max(0.0, float(np.median(extra)))
    return cost


def _read(store: Path) -> dict:
    try:
        return json.loads(store.read_text())
    except (OSError, ValueError):
        return {}
