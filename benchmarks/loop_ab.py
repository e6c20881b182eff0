"""Variants of the speculative loop side by side with plain decoding: interleaved in one
process, per category.

    python benchmarks/loop_ab.py BUNDLE --prompts P --ngram-db DB [--exact] \
        --arm NAME:OBJECT.ATTRIBUTE=VALUE[,...] [--arm ...]

Every arm is a pipeline running the n-gram drafter over DB (no model DB) with the same cached
verify-cost curve, with the attributes its --arm sets on its `session`, its `planner` or its
drafter's config (`drafter`, an NgramConfig); a value is a Python literal, a pair of dicts for
a CountThresholds. E.g. `--arm split0:session.split_max=0 --arm split4:session.split_max=4`
(short chains verified as one-token subsequences or not, runtimes/openvino_paged.py),
`--arm hold:planner.forget_held=0 --arm forget:planner.forget_held=1` (engine/planner.py), or
the n-gram thresholds used until 2026-12-04 against the current defaults (drafters/ngram.py):
    --arm old:"drafter.context_min_support={1:2},drafter.static_thresholds=({1:8,2:4,3:2},{1:.5,2:.5,3:.5})"
    --arm new:
Every prompt runs in every arm and in plain decoding, in alternating order, each generation
measured again while the hypervisor stole more than 5% of it. Reports per category and overall the
geometric mean over prompts of decode and end-to-end tokens/s against plain decoding, and tau;
with --exact, every output must equal plain decoding's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from arm_settings import setting_value, split_settings  # benchmarks/ is on the path when this script runs
from interleaved_arms import mean_ratio, print_header, run_interleaved

from edge_spec import Pipeline
from edge_spec.bench.prompts import load_prompts
from edge_spec.pipeline import GenerationConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--ngram-db", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=10, help="prompts per category")
    parser.add_argument("--exact", action="store_true", help="f32 compute, as --exact runs")
    parser.add_argument("--arm", action="append", required=True, help="NAME:OBJECT.ATTRIBUTE=VALUE[,...]")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, limit=args.limit)
    arms: dict[str, Pipeline] = {
        "none": Pipeline.load(args.bundle, drafter="none", exact=args.exact, model_db=None, learn=False)
    }
    for spec in args.arm:
        name, _, settings = spec.partition(":")
        pipe = Pipeline.load(
            args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None, learn=False
        )
        targets = {"session": pipe.session, "planner": pipe.planner(), "drafter": pipe.drafter.config}
        for setting in split_settings(settings):
            path, _, value = setting.partition("=")
            owner, _, attribute = path.partition(".")
            if owner not in targets or not hasattr(targets[owner], attribute):
                raise SystemExit(f"--arm {spec}: {path} is not an attribute of the session, planner or drafter")
            setattr(targets[owner], attribute, setting_value(getattr(targets[owner], attribute), value))
        arms[name] = pipe
    # warm every arm up on the longest prompt: the first long pass after compiling costs more
    longest_prompt = max(prompts, key=lambda p: len(arms["none"].encode(p.as_input())))
    for pipe in arms.values():
        pipe.generate(pipe.encode(longest_prompt.as_input()), GenerationConfig(max_new_tokens=16))

    runs, differ = run_interleaved(arms, prompts, args.exact)

    print_header(args.bundle, args.exact, len(prompts), differ)
    for category, base in runs["none"].items():
        line = f"{category:15s}"
        for name in list(arms)[1:]:
            mine = runs[name][category]
            decode = mean_ratio(mine, base, "decode_tokens_per_s")
            e2e = mean_ratio(mine, base, "tokens_per_s")
            tau = sum(s.new_tokens for s in mine) / max(1, sum(s.target_forwards for s in mine))
            line += f" | {name} decode {decode:.3f}x e2e {e2e:.3f}x tau {tau:.2f}"
        print(line)
    for pipe in arms.values():
        pipe.close()


if __name__ == "__main__":
    main()
