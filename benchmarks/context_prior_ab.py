"""The n-gram drafter with its priors keyed on match bands (the default) against the same drafter
keyed on the index order alone (1-4, as before 2026-12-04): interleaved A/B in one process.

    python benchmarks/context_prior_ab.py BUNDLE --prompts P --ngram-db DB [--exact] [--limit 10] [--rounds 2]

Two pipelines on the same bundle, each prompt run by both in alternating order, every
generation measured again while the hypervisor stole more than 5% of it. Reports each arm's
tokens/s and tau over all runs, and the per-prompt geometric means of bands/order (decode and end
to end), which a few slow runs cannot swing. Outputs are checked equal between the arms.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import geometric_mean

from edge_spec import Pipeline
from edge_spec.bench.machine import least_stolen
from edge_spec.bench.prompts import load_prompts
from edge_spec.drafters.ngram import NgramConfig
from edge_spec.pipeline import GenerationConfig

ORDER_PRIORS = {1: 0.3, 2: 0.45, 3: 0.6, 4: 0.7}  # the priors per index order before match bands
MAX_STEAL = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--ngram-db", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=10, help="prompts per category")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--exact", action="store_true")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, limit=args.limit)
    arms = {
        name: Pipeline.load(args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None)
        for name in ("bands", "order")
    }
    arms["order"].drafter.config = NgramConfig(context_prior=dict(ORDER_PRIORS))
    config = GenerationConfig(max_new_tokens=128)
    for pipe in arms.values():
        pipe.generate(pipe.encode(prompts[0].as_input()), GenerationConfig(max_new_tokens=16))
    runs: dict[str, list] = {name: [] for name in arms}
    for round_ in range(args.rounds):
        for i, prompt in enumerate(prompts):
            names = list(arms) if (i + round_) % 2 == 0 else list(arms)[::-1]
            outputs = {}
            for name in names:
                pipe = arms[name]
                ids = pipe.encode(prompt.as_input())
                result, _, _ = least_stolen(lambda: pipe.generate(ids, config), MAX_STEAL, name)  # noqa: B023
                outputs[name] = result.tokens
                runs[name].append(result.stats)
            if outputs["bands"] != outputs["order"]:
                raise SystemExit(f"{prompt.prompt_id}: the two arms' outputs differ")
    for name, stats in runs.items():
        tokens = sum(s.new_tokens for s in stats)
        wall = sum(s.wall_s for s in stats)
        decode = sum(s.wall_s - s.ttft_s for s in stats)
        forwards = sum(s.target_forwards - 1 for s in stats)  # the prefill emits the first token
        print(
            f"{name:6s} {tokens / wall:6.1f} tok/s end to end, {(tokens - len(stats)) / decode:6.1f} decode, "
            f"tau {(tokens - len(stats)) / max(forwards, 1):.2f}"
        )
    pairs = [(a, b) for a, b in zip(runs["bands"], runs["order"]) if min(a.new_tokens, b.new_tokens) > 1]
    decode = geometric_mean([a.decode_tokens_per_s / b.decode_tokens_per_s for a, b in pairs])
    e2e = geometric_mean([(a.new_tokens / a.wall_s) / (b.new_tokens / b.wall_s) for a, b in pairs])
    print(f"bands/order per prompt (geometric mean of {len(pairs)}): decode {decode:.3f}, end to end {e2e:.3f}")
    for pipe in arms.values():
        pipe.close()


if __name__ == "__main__":
    main()
