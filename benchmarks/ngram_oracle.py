"""How much the n-gram tiers could give with perfect choices: the bound a planner works under.

    python benchmarks/ngram_oracle.py RESULT.json BUNDLE --ngram-db DB [--exact]

RESULT.json is an `edge-spec bench` run with the `none` and `ngram` modes. For each prompt, the
target's greedy output (`none`) is replayed through the n-gram drafter (context tier + DB, the
same code the engine runs). At every step an oracle that knows the output keeps, of the
drafter's candidate tree, exactly the path that the target would accept (nothing else) and pays
the bundle's verify-cost curve for it: t(accepted + 1). That is the best any planner could do
with these drafts, since a real one must guess which candidate is right and how deep.

Reported per category and overall, beside what the run measured:
  oracle tau       tokens per target pass with perfect choices (depth up to --max-depth);
  oracle speedup   decode tokens per one-token-pass time, in curve units (a bound on decode
                   tokens/s over plain decoding: the real engine adds its own overhead);
  planner          the same replay with the engine's own planner choosing (a fresh DraftPlanner
                   on the same curve), paying t(rows) per pass plus the curve's switch cost
                   whenever the pass size changes: its tau and speedup in curve units. Between
                   oracle and planner lie the planner's guesses; between planner and measured,
                   what the curve does not capture (pass times in situ, the engine's overhead);
  measured         the run's decode speedup of `ngram` over `none`, and its tau.
No model runs except for measuring the curve when the cache has none for this bundle.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from greedy_outputs import greedy_outputs, replay  # benchmarks/ is on the path when this script runs

from edge_spec import Pipeline
from edge_spec.drafters.base import DraftBudget
from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.engine.speculative import MAX_DEPTH
from edge_spec.engine.tree import CandidateTree


def oracle_steps(drafter, prompt: list[int], output: list[int], max_depth: int) -> list[int]:  # noqa: ANN001
    """Accepted draft tokens at each step when only the right path of each tree is verified."""
    drafter.reset()
    budget = DraftBudget(max_nodes=64, max_depth=max_depth)
    steps = replay(lambda _remaining: drafter.propose(budget), drafter.observe, prompt, output)
    return [step - 1 for _, _, step in steps]


def planner_steps(drafter, planner: DraftPlanner, prompt: list[int], output: list[int]) -> tuple[int, float]:  # noqa: ANN001
    """(passes, seconds by the curve) when PLANNER cuts each tree, as in engine/speculative.py."""
    drafter.reset()
    planner.new_request()
    cost = planner.cost

    def propose(remaining: int) -> CandidateTree:
        budget = DraftBudget(max_nodes=planner.max_nodes, max_depth=min(MAX_DEPTH, remaining))
        return planner.plan(drafter.propose(budget))

    passes, seconds, last = 0, 0.0, None
    for tree, verdict, _ in replay(propose, drafter.observe, prompt, output):
        planner.observe(tree, verdict.path)
        rows = planner.pass_rows
        seconds += float(cost(rows)) + (cost.switch_s if rows != last else 0.0)
        passes, last = passes + 1, rows
    return passes, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, help="an `edge-spec bench` JSON with the none and ngram modes")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--ngram-db", type=Path, default=None, help="the static DB the run used")
    parser.add_argument("--exact", action="store_true", help="use the exact-mode verify-cost curve")
    parser.add_argument("--max-depth", type=int, default=15)
    args = parser.parse_args()

    run, outputs = greedy_outputs(args.result, args.bundle)
    pipe = Pipeline.load(
        args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None, learn=False
    )
    cost: VerifyCost = pipe.planner().cost
    planner = DraftPlanner(cost)
    units = defaultdict(float)  # per category: one-token-pass units the oracle spends
    tokens = defaultdict(int)
    steps = defaultdict(int)
    planned = defaultdict(lambda: [0, 0.0])  # per category: the planner's passes and seconds
    for item in outputs:
        accepted = oracle_steps(pipe.drafter, item.prompt, item.output, args.max_depth)
        passes, seconds = planner_steps(pipe.drafter, planner, item.prompt, item.output)
        for category in (item.category, "all"):
            units[category] += sum(cost.ratio(a + 1) for a in accepted)
            tokens[category] += len(item.output) - 1
            steps[category] += len(accepted)
            planned[category][0] += passes
            planned[category][1] += seconds
    pipe.close()

    measured = {(r["mode"], r["category"]): r for r in run["summary"]}
    cpu = run["machine"]["cpu"]
    print(f"{args.result.name}: oracle over the drafter's candidates (depth <= {args.max_depth}), {cpu}")
    header = ("oracle tau", "oracle speedup", "planner tau", "planner speedup", "measured speedup", "measured tau")
    print(f"{'category':16s} " + " ".join(f"{h:>{len(h)}s}" for h in header))
    for category in sorted(units, key=lambda c: (c == "all", c)):
        plain = measured.get(("none", category))
        ngram = measured.get(("ngram", category))
        speedup = ngram["decode_tokens_per_s"] / plain["decode_tokens_per_s"] if plain and ngram else float("nan")
        tau = ngram["tau"] if ngram else float("nan")
        passes, seconds = planned[category]
        print(
            f"{category:16s} {tokens[category] / steps[category]:10.2f} {tokens[category] / units[category]:13.2f}x"
            f" {tokens[category] / passes:11.2f} {tokens[category] * float(cost(1)) / seconds:14.2f}x"
            f" {speedup:15.2f}x {tau:12.2f}"
        )


if __name__ == "__main__":
    main()
