"""What a pass over another T than the last one's costs on OpenVINO's CPU plugin, and whether a
second compiled graph for one-token steps would save it, in a micro benchmark and in the loop.

    python benchmarks/shape_switch.py BUNDLE --prompts ../shared/bench/prompts/code.jsonl \
        --ngram-db DB [--exact] [--limit 5] [--json OUT]

Part 1 (micro): after a 300-token prefill, one-token and T-token passes (the context growing by
one entry per pass), each pattern run on the session's graph alone, then with the one-token
passes on a second compile of the same graph that reads and writes the same PagedAttention
block caches. Reports the median ms per pass and size, and the resident memory the second
compile added once both had run (the plugin repacks some weight formats per compiled model).

Part 2 (in the loop): `--drafter ngram` generations of 128 new tokens on the prompts, counting
the target passes whose T differs from the previous pass's; that count times the switch cost
measured in part 1, over the decode time, bounds what any way of avoiding switches can save.

A measurement of the paged session itself, so it uses that session's private helpers to compile
and bind the second graph (the library has no second graph: benchmarks/README.md says why).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edge_spec import Pipeline
from edge_spec.bench.machine import describe_machine
from edge_spec.bench.prompts import load_prompts
from edge_spec.runtimes.openvino_paged import NO_TREE, PagedOpenVINOSession, _paged_feed

PREFILL = 300
PASSES = 60  # per pattern, after one round of warm-up


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(row for row in status if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def timed_pass(session: PagedOpenVINOSession, request, tokens: np.ndarray, past: int) -> float:  # noqa: ANN001
    """Seconds of one pass of REQUEST (a graph of SESSION's) over TOKENS after PAST cached ones."""
    count = tokens.size
    feed = _paged_feed(tokens, np.arange(past, past + count), np.arange(count), past, session.kv.block_size)
    feed["qq_bias"], feed["qq_bias_begins"] = NO_TREE
    begin = time.perf_counter()
    request.infer(feed)
    return time.perf_counter() - begin


def micro(session: PagedOpenVINOSession, size: int) -> dict:
    """Median ms per pass of each pattern, on one graph and with a second graph for T=1."""
    main = session.request
    session.reserve(PREFILL + PASSES + 2 + size)  # each pattern starts again after the prefill
    rng = np.random.default_rng(0)

    def run(request, count: int, past: int) -> float:  # noqa: ANN001
        return timed_pass(session, request, rng.integers(0, session.vocab_size, count), past)

    run(main, PREFILL, 0)
    run(main, 1, PREFILL)  # both shapes of the session's graph have run before the memory is read
    before = rss_mib()
    session._model = session._read_model(False)  # the session let go of its graph once compiled
    step = session._compile(session.numerics_config()).create_infer_request()
    session._model = None
    for port in session._cache_ports(session.compiled):  # the same block caches: both graphs read and write them
        step.set_tensor(port.get_any_name(), main.get_tensor(port.get_any_name()))
    run(step, 1, PREFILL)  # the second graph's first pass (weights repacked now, if at all)
    added = rss_mib() - before

    def pattern(sizes: list[int], requests: dict) -> dict[int, float]:
        times: dict[int, list[float]] = {}
        past = PREFILL
        for i in range(PASSES + len(sizes)):
            count = sizes[i % len(sizes)]
            seconds = run(requests[count], count, past)
            past += 1  # one entry kept per pass, as a step that accepts nothing keeps
            if i >= len(sizes):
                times.setdefault(count, []).append(seconds)
        return {count: round(float(np.median(t)) * 1e3, 2) for count, t in times.items()}

    rows = {
        "steady T=1": pattern([1], {1: main}),
        f"steady T={size}": pattern([size], {size: main}),
        f"alternating 1/{size}, one graph": pattern([1, size], {1: main, size: main}),
        f"alternating 1/{size}, T=1 on a second graph": pattern([1, size], {1: step, size: main}),
    }
    return {"passes": rows, "second_graph_rss_mib": round(added, 1)}


def in_loop(pipe: Pipeline, prompts: list, switch_ms: float) -> dict:
    """Passes whose T differs from the previous pass's, in real n-gram generations."""
    session = pipe.session
    sizes: list[int] = []
    original = session._run

    def recorded(input_ids, *rest):  # noqa: ANN001, ANN202
        sizes.append(int(input_ids.size))
        return original(input_ids, *rest)

    session._run = recorded
    decode_s = 0.0
    switches = passes = 0
    for prompt in prompts:
        sizes.clear()
        stats = pipe.generate(prompt.as_input(), max_new_tokens=128).stats
        decode_s += stats.wall_s - stats.ttft_s
        steps = sizes[1:]  # the prefill is a switch whatever happens
        passes += len(steps)
        switches += sum(a != b for a, b in zip(sizes, steps))
    session._run = original
    share = switches * switch_ms / 1e3 / decode_s
    return {
        "passes": passes,
        "switches": switches,
        "decode_s": round(decode_s, 2),
        "switch_share_bound": round(share, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--ngram-db", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--size", type=int, default=8, help="T of the multi-token passes in part 1")
    parser.add_argument("--exact", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    pipe = Pipeline.load(
        args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None, learn=False
    )
    if not isinstance(pipe.session, PagedOpenVINOSession):
        raise SystemExit(f"{args.bundle}: the OpenVINO CPU session is not the PagedAttention one; nothing to measure")
    part1 = micro(pipe.session, args.size)
    pipe.session.reset()
    rows = part1["passes"]
    switch_ms = rows[f"alternating 1/{args.size}, one graph"][1] - rows["steady T=1"][1]
    prompts = load_prompts(args.prompts, limit=args.limit)
    pipe.generate(prompts[0].as_input(), max_new_tokens=16)  # warm-up
    part2 = in_loop(pipe, prompts, switch_ms)

    print(f"{pipe.session.numerics} numerics; ms per pass (median of {PASSES}), context {PREFILL}+")
    for name, times in rows.items():
        print(f"  {name:45s} " + "  ".join(f"T={t}: {ms:6.2f}" for t, ms in times.items()))
    print(f"  second graph: +{part1['second_graph_rss_mib']:.0f} MiB resident")
    print(f"  switch cost (T=1 after T={args.size} vs steady): {switch_ms:.1f} ms")
    print(
        f"in the loop ({len(prompts)} prompts): {part2['switches']} of {part2['passes']} passes changed T; "
        f"at {switch_ms:.1f} ms each that is at most {part2['switch_share_bound']:.1%} "
        f"of {part2['decode_s']} s decoding"
    )
    if args.json:
        record = describe_machine(bundle=str(args.bundle), numerics=pipe.session.numerics, size=args.size)
        record.update(micro=part1, loop=part2, switch_ms=round(switch_ms, 2))
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
