"""How often a context-tier copy is right, by how far its match with the history's end goes.

    python benchmarks/context_match.py RESULT.json BUNDLE

RESULT.json is an `edge-spec bench` run with the `none` mode; only its greedy outputs and the
bundle's tokenizer are used (no model runs). Each prompt's output is replayed through the
context tier (`ContextNgrams.candidates`, the code the drafter runs), advancing at every step
as far as its best candidate was right, plus the bonus token. Each candidate is put in its
match band (the keys of `NgramConfig.context_prior`: a candidate whose match with the history's
end is 5..8 tokens long is in band 8) and counted as its step's first candidate or another one.

Reported per band: candidates, how often the first copied token was right, and the mean count
of leading copied tokens that were right (up to --max-depth). These are the numbers behind
the drafter's priors per band (benchmarks/README.md, "context_match.py").
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from greedy_outputs import greedy_outputs  # benchmarks/ is on the path when this script runs

from edge_spec.bench.audit import first_difference
from edge_spec.drafters.ngram import NgramConfig
from edge_spec.drafters.ngram_context import ContextNgrams


def replay(prompt: list[int], output: list[int], config: NgramConfig, max_depth: int, tally: dict) -> None:
    """Add each step's candidates to TALLY[(first?, band)] = [candidates, first right, tokens right]."""
    context = ContextNgrams(config.context_max_n, config.context_per_key)
    context.extend([*prompt, output[0]])
    i = 0  # output[i] is the root: emitted, not yet fed to the target
    while i < len(output) - 1:
        truth = output[i + 1 : i + 1 + max_depth]
        best = 0
        found = context.candidates(max_depth, config.max_candidates, config.context_min_support)
        for rank, cand in enumerate(found):
            differs = first_difference(cand.tokens, truth)
            right = len(cand.tokens) if differs is None else differs
            row = tally[(rank == 0, config.context_band(cand.match))]
            row[0] += 1
            row[1] += right > 0
            row[2] += right
            best = max(best, right)
        step = min(best + 1, len(output) - 1 - i)
        context.extend(output[i + 1 : i + 1 + step])
        i += step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, help="an `edge-spec bench` JSON with the none mode")
    parser.add_argument("bundle", type=Path, help="the bundle whose tokenizer the run used")
    parser.add_argument("--max-depth", type=int, default=15)
    args = parser.parse_args()

    _, outputs = greedy_outputs(args.result, args.bundle)
    config = NgramConfig()
    tally: dict = defaultdict(lambda: [0, 0, 0])
    for item in outputs:
        replay(item.prompt, item.output, config, args.max_depth, tally)

    print(f"{args.result.name}: context-tier copies by match band (depth <= {args.max_depth})")
    print(f"{'candidate':10s} {'band':>9s} {'count':>6s} {'first right':>12s} {'tokens right':>13s}")
    bands = sorted(config.context_prior)
    for first in (True, False):
        for band in bands:
            count, ok, right = tally.get((first, band), (0, 0, 0))
            if count:
                low = bands[bands.index(band) - 1] + 1 if band != bands[0] else 1
                span = f"{low}" if low == band else f"{low}-{band}" if band != bands[-1] else f"{low}+"
                kind = "first" if first else "other"
                print(f"{kind:10s} {span:>9s} {count:6d} {ok / count:12.2f} {right / count:13.2f}")


if __name__ == "__main__":
    main()
