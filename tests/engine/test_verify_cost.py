"""The verify-cost curve: measured on a real session, cached, and re-measured when stale."""

from __future__ import annotations

import json

import numpy as np

from edge_spec import Pipeline
from edge_spec.bundle import cache_dir
from edge_spec.engine.verify_cost import METHOD, SIZES, measure, verify_cost


def test_measure_gives_a_monotone_curve_and_a_switch_cost(zoo, backend) -> None:  # noqa: ANN001
    session = Pipeline.load(zoo.bundle("llama"), backend=backend, exact=True).session
    cost = measure(session, context=16, rounds=2, repeats=2)
    assert cost.sizes == list(SIZES)
    assert np.all(np.diff(cost.seconds) >= 0) and cost.seconds[0] > 0
    assert cost.switch_s >= 0.0
    assert session.length == 0  # nothing of the measurement stays in the cache


def test_a_curve_cached_by_an_older_method_is_measured_again(zoo) -> None:  # noqa: ANN001
    session = Pipeline.load(zoo.bundle("llama"), exact=True).session
    store = cache_dir() / "verify_cost.json"
    identity = "test-stale-entry"
    known = json.loads(store.read_text()) if store.exists() else {}
    known[identity] = {"sizes": list(SIZES), "seconds": [1.0] * len(SIZES), "switch_s": 0.0}  # no method: older
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(known))
    cost = verify_cost(session, identity)
    assert cost.seconds != [1.0] * len(SIZES)
    entry = json.loads(store.read_text())[identity]
    assert entry["switch_s"] == cost.switch_s and entry["method"] == METHOD
    assert verify_cost(session, identity) == cost  # and read back from the cache next time
