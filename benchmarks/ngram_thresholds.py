"""The n-gram drafter's settings replayed over the target's greedy outputs, with the engine's planner.

    python benchmarks/ngram_thresholds.py RESULT.json BUNDLE --ngram-db DB [--exact] \
        [--exclude TUNED.json] [--variant NAME:drafter.ATTRIBUTE=VALUE[,...] ...]

RESULT.json is an `edge-spec bench` run with the `none` mode (plain decoding's tokens). Each
variant is the n-gram drafter with some NgramConfig attributes set (the `--arm` syntax of
loop_ab.py: a Python literal, a pair of dicts for a CountThresholds); each replays every output
with a fresh DraftPlanner on the bundle's cached verify-cost curve, paying t(rows) per pass and
the curve's switch cost whenever the size changes (as `ngram_oracle.py`'s planner column does).
Reported per category and overall: tau and decode speedup in curve units (tokens x t(1) over
the seconds spent). No model runs; a variant takes seconds, so settings can be swept here and
only the winner A/B-tested live (loop_ab.py), where the curve's blind spots show (trees that
cannot take the one-token kernel, the drafting time itself).

--exclude drops the prompts of another run (e.g. those the settings were chosen on), so a
larger run of the same prompt file serves as a held-out set. Without --variant: the thresholds
used until 2026-12-04 (`old`) against the current defaults (`current`).
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import defaultdict
from pathlib import Path

from arm_settings import setting_value, split_settings  # benchmarks/ is on the path when this script runs
from greedy_outputs import greedy_outputs
from ngram_oracle import planner_steps

from edge_spec import Pipeline
from edge_spec.drafters.ngram_context import ContextNgrams
from edge_spec.engine.planner import DraftPlanner

OLD = "old:drafter.context_min_support={1:2},drafter.static_thresholds=({1:8,2:4,3:2},{1:.5,2:.5,3:.5})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, help="an `edge-spec bench` JSON with the none mode")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--ngram-db", type=Path, required=True, help="the static DB")
    parser.add_argument("--exact", action="store_true", help="use the exact-mode verify-cost curve")
    parser.add_argument("--exclude", type=Path, default=None, help="a bench JSON whose prompts to leave out")
    parser.add_argument("--variant", action="append", default=None, help="NAME:drafter.ATTRIBUTE=VALUE[,...]")
    args = parser.parse_args()

    _, outputs = greedy_outputs(args.result, args.bundle)
    if args.exclude is not None:
        tuned = {record["prompt_id"] for record in json.loads(args.exclude.read_text())["prompts"]}
        outputs = [item for item in outputs if item.prompt_id not in tuned]
    pipe = Pipeline.load(
        args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None, learn=False
    )
    cost = pipe.planner().cost
    drafter = pipe.drafter
    defaults = copy.deepcopy(drafter.config)
    print(f"{args.result.name}: {len(outputs)} outputs, {'exact' if args.exact else 'default'} curve")
    for spec in args.variant or [OLD, "current:"]:
        name, _, settings = spec.partition(":")
        config = copy.deepcopy(defaults)
        for setting in split_settings(settings):
            path, _, value = setting.partition("=")
            owner, _, attribute = path.partition(".")
            if owner != "drafter" or not hasattr(config, attribute):
                raise SystemExit(f"--variant {spec}: {path} is not drafter.<an NgramConfig attribute>")
            setattr(config, attribute, setting_value(getattr(config, attribute), value))
        drafter.config = config
        drafter.context = ContextNgrams(config.context_max_n, config.context_per_key)
        planner = DraftPlanner(cost)
        totals = defaultdict(lambda: [0, 0.0, 0])  # per category: passes, seconds, tokens
        for item in outputs:
            passes, seconds = planner_steps(drafter, planner, item.prompt, item.output)
            for category in (item.category, "all"):
                totals[category][0] += passes
                totals[category][1] += seconds
                totals[category][2] += len(item.output) - 1
        line = " ".join(
            f"{category} {tokens * float(cost(1)) / seconds:.3f}x (tau {tokens / passes:.2f})"
            for category, (passes, seconds, tokens) in sorted(totals.items(), key=lambda kv: (kv[0] == "all", kv[0]))
        )
        print(f"{name:10s} {line}")
    pipe.close()


if __name__ == "__main__":
    main()
