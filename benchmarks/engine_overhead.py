"""Where the speculative loop's time goes: the backend's forward calls vs everything else.

    python benchmarks/engine_overhead.py BUNDLE --prompts ../shared/bench/prompts/code.jsonl --limit 10

Runs `--drafter ngram` greedy generations of 128 new tokens (after one warm-up) and reports, over
all of them, the share of wall time spent inside the target's forward calls, in drafting (the
drafter + planner), and the rest (acceptance, KV bookkeeping, masks, detokenizing, stop checks),
then the top functions of a cProfile of the same generations run again (the shares are measured
without the profiler, which slows Python and so would inflate the engine's share).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from pathlib import Path

from edge_spec import Pipeline
from edge_spec.bench.prompts import load_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--ngram-db", type=Path, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()

    pipe = Pipeline.load(args.bundle, drafter="ngram", static_db=args.ngram_db, learn=False)
    prompts = load_prompts(args.prompts, limit=args.limit)
    inputs = [pipe.encode(p.as_input()) for p in prompts][: args.limit]
    pipe.generate(pipe.encode("def warm_up(x):\n    return x\n"), max_new_tokens=16)

    # The shares come from runs without the profiler (it slows Python, not OpenVINO, so it would
    # inflate the engine's share); the same generations then run again under it for the table.
    wall = forward = draft = 0.0
    for ids in inputs:
        s = pipe.generate(ids, max_new_tokens=args.max_new_tokens).stats
        wall += s.wall_s
        forward += s.forward_share * s.wall_s
        draft += s.draft_share * s.wall_s
    profile = cProfile.Profile()
    for ids in inputs:
        profile.enable()
        pipe.generate(ids, max_new_tokens=args.max_new_tokens)
        profile.disable()
    rest = wall - forward - draft
    print(f"{len(inputs)} generations, {pipe.session.numerics} numerics, wall {wall:.2f} s")
    print(f"  target forward calls   {forward / wall:6.1%}")
    print(f"  drafting (n-gram+plan) {draft / wall:6.1%}")
    print(f"  rest of the engine     {rest / wall:6.1%}")
    print(f"  engine overhead total  {(wall - forward) / wall:6.1%}")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(12)
    print(text.getvalue())


if __name__ == "__main__":
    main()
