"""Where a switch of T goes on OpenVINO's CPU plugin: per node, and for every pair of sizes.

    python benchmarks/switch_profile.py BUNDLE [--exact] [--sizes 1,2,3,4,6,8,12,16] [--json OUT]

shape_switch.py measures what a pass over another T than the last pass's costs; this says where
it goes. Part 1 compiles the session's graph once more, with its settings and PERF_COUNT, and
times a T=12 pass right after T=4 against a T=12 pass after another T=12 one (medians, after a
300-token prefill), wall clock and per node (by node type, and per FullyConnected by the weight
it multiplies: q/k/v/o and MLP projections of every layer, the LM head), in two patterns: the
loop's usual one (4, 4, 12) and alternating (4, 12, 4, 12). Part 2 (the session's own graph, no
profiling): for each pair (a, b) of --sizes, a pass at b right after two at a, minus a pass at b
after two at b, interleaved so that drift hits both alike.

A measurement of the paged session itself, so it uses that session's private helpers to compile
the profiling graph, as shape_switch.py does.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from shape_switch import timed_pass  # benchmarks/ is on the path when this script runs

from edge_spec import Pipeline
from edge_spec.bench.machine import describe_machine
from edge_spec.runtimes.openvino_paged import PagedOpenVINOSession, _bind_caches

PREFILL = 300
REPEATS = 10


def make_runner(session: PagedOpenVINOSession, request):  # noqa: ANN001, ANN201
    """run(count): one pass of COUNT new tokens after the prefill (nothing kept); seconds."""
    rng = np.random.default_rng(0)

    def run(count: int, past: int = PREFILL) -> float:
        return timed_pass(session, request, rng.integers(0, session.vocab_size, count), past)

    run(PREFILL, 0)
    return run


def weight_kind(node: str) -> str:
    """'q_proj', 'gate_proj', ... for a layer's FC; the node's own name otherwise (the LM head)."""
    found = re.search(r"\.layers\.\d+\.\w+\.(\w+)/", node)
    return found.group(1) if found else node


def node_profile(session: PagedOpenVINOSession) -> dict:
    """Extra ms, wall clock and per node, of a T=12 pass after T=4 over one after T=12, in two
    patterns: 'after_run' (4, 4, 12: the loop's usual switch) and 'alternating' (4, 12, 4, 12)."""
    session._model = session._read_model(False)  # the session let go of its graph once compiled
    compiled = session._compile({**session.numerics_config(), "PERF_COUNT": "YES"})
    session._model = None
    request = compiled.create_infer_request()
    _bind_caches(request, session._cache_ports(compiled), -(-(PREFILL + 64) // session.kv.block_size))
    run = make_runner(session, request)

    def timed(count: int) -> tuple[float, dict[str, tuple[str, float]]]:
        wall = run(count)
        nodes = {p.node_name: (p.node_type, p.real_time.total_seconds() * 1e3) for p in request.get_profiling_info()}
        return wall, nodes

    def extra(switched: list, steady: list) -> dict:
        by_type: dict[str, float] = defaultdict(float)
        by_weight: dict[str, list[float]] = defaultdict(list)
        for node, (kind, _) in steady[0][1].items():
            delta = float(np.median([p[node][1] for _, p in switched]) - np.median([p[node][1] for _, p in steady]))
            by_type[kind] += delta
            if kind == "FullyConnected":
                by_weight[weight_kind(node)].append(delta)
        wall = np.median([w for w, _ in switched]) - np.median([w for w, _ in steady])
        return {
            "extra_ms_wall": round(float(wall) * 1e3, 2),
            "extra_ms_nodes": round(sum(by_type.values()), 2),
            "extra_ms_by_node_type": {k: round(v, 2) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])},
            "extra_ms_per_fc": {k: round(float(np.mean(v)), 3) for k, v in by_weight.items()},
            "fc_count": {k: len(v) for k, v in by_weight.items()},
        }

    after_run, alternating, steady = [], [], []
    for _ in range(REPEATS):
        run(4), run(4)
        after_run.append(timed(12))
        for _ in range(3):
            run(4)
            alternating.append(timed(12))
        for _ in range(3):
            run(12)
        steady.append(timed(12))
    return {"after_run": extra(after_run, steady), "alternating": extra(alternating, steady)}


def pair_penalties(session: PagedOpenVINOSession, sizes: list[int]) -> dict[str, float]:
    """ms a pass at b costs right after passes at a, over one after passes at b."""
    run = make_runner(session, session.request)
    for size in sizes * 2:
        run(size)
    out = {}
    for a in sizes:
        for b in sizes:
            if a == b:
                continue
            after_a, after_b = [], []
            for _ in range(7):
                run(a), run(a)
                after_a.append(run(b))
                run(b)
                after_b.append(run(b))
            out[f"{a}->{b}"] = round((float(np.median(after_a)) - float(np.median(after_b))) * 1e3, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--exact", action="store_true", help="f32 compute, as --exact runs")
    parser.add_argument("--sizes", default="1,2,3,4,6,8,12,16", help="the T values of part 2")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    pipe = Pipeline.load(args.bundle, drafter="none", exact=args.exact, model_db=None, learn=False)
    session = pipe.session
    if not isinstance(session, PagedOpenVINOSession):
        raise SystemExit(f"{args.bundle}: not on the PagedAttention session (OpenVINO CPU); nothing to profile")
    session.reserve(PREFILL + 64)
    nodes = node_profile(session)
    pairs = pair_penalties(session, sizes)
    print(f"{describe_machine()['cpu']}, {session.numerics}; a T=12 pass after T=4, over one after T=12:")
    for pattern, figures in nodes.items():
        wall, in_nodes = figures["extra_ms_wall"], figures["extra_ms_nodes"]
        print(f"  {pattern}: {wall:+.2f} ms wall clock, {in_nodes:+.2f} in the nodes")
        for kind, ms in list(figures["extra_ms_by_node_type"].items())[:3]:
            print(f"    {kind:28s} {ms:+7.2f} ms")
        for weight, ms in figures["extra_ms_per_fc"].items():
            print(f"    FC {weight[-25:]:25s} {ms:+7.3f} ms each (x{figures['fc_count'][weight]})")
    print("ms a pass at b costs after passes at a (rows a, columns b):")
    print("     " + "".join(f"{b:7d}" for b in sizes))
    for a in sizes:
        print(f"{a:4d} " + "".join("      -" if a == b else f"{pairs[f'{a}->{b}']:7.1f}" for b in sizes))
    if args.json:
        record = {"machine": describe_machine(), "numerics": session.numerics, "nodes": nodes, "pairs": pairs}
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
