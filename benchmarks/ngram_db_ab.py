"""Static n-gram DBs (and the planner with or without its throughput gate) side by side with
plain decoding: interleaved in one process, per category.

    python benchmarks/ngram_db_ab.py BUNDLE --prompts P ARM=DB [ARM=DB ...] [--gated] [--exact] [--limit 3]

Each ARM is the n-gram drafter over DB (no model DB), its planner as the pipeline makes it (no
throughput gate: the estimates alone decide what is verified); --gated adds, for every arm, a
twin whose planner has the gate (engine/throughput_gate.py). Every prompt runs in every arm and
in plain decoding, in alternating order, each generation measured again while the hypervisor
stole more than 5% of it. Reports per category and overall the
geometric mean over prompts of decode tokens/s against plain decoding, and tau. With --exact,
every output must equal plain decoding's; in the default numerics a pass over several tokens
may break a near-tie the other way, so differing outputs are only counted (`edge-spec bench`
audits them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interleaved_arms import mean_ratio, print_header, run_interleaved  # benchmarks/ is on the path

from edge_spec import Pipeline
from edge_spec.bench.prompts import load_prompts
from edge_spec.engine.throughput_gate import ThroughputGate
from edge_spec.pipeline import GenerationConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("arms", nargs="+", help="NAME=DB")
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=3, help="prompts per category")
    parser.add_argument("--exact", action="store_true", help="f32 compute, as --exact runs")
    parser.add_argument("--gated", action="store_true", help="add each arm with the throughput gate")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, limit=args.limit)
    arms: dict[str, Pipeline] = {
        "none": Pipeline.load(args.bundle, drafter="none", exact=args.exact, model_db=None, learn=False)
    }
    for spec in args.arms:
        name, _, db = spec.partition("=")
        for gated in (False, True) if args.gated else (False,):
            pipe = Pipeline.load(
                args.bundle, drafter="ngram", exact=args.exact, static_db=Path(db), model_db=None, learn=False
            )
            if gated:
                pipe.planner().gate = ThroughputGate()
            arms[f"{name}-gated" if gated else name] = pipe
    for pipe in arms.values():
        pipe.generate(pipe.encode(prompts[0].as_input()), GenerationConfig(max_new_tokens=16))

    runs, differ = run_interleaved(arms, prompts, args.exact)

    print_header(args.bundle, args.exact, len(prompts), differ)
    for category, base in runs["none"].items():
        line = f"{category:15s}"
        for name in list(arms)[1:]:
            mine = runs[name][category]
            speedup = mean_ratio(mine, base, "decode_tokens_per_s")
            tau = sum(s.new_tokens - 1 for s in mine) / max(1, sum(s.target_forwards - 1 for s in mine))
            line += f" | {name} {speedup:.3f}x tau {tau:.2f}"
        print(line)
    for pipe in arms.values():
        pipe.close()


if __name__ == "__main__":
    main()
