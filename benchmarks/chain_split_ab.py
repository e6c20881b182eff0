"""Short chains verified as one-token subsequences or as one subsequence, side by side with
plain decoding: interleaved in one process, per category.

    python benchmarks/chain_split_ab.py BUNDLE --prompts P --ngram-db DB [--exact] [--split 4,8]

The paged OpenVINO session verifies a causal chain of up to `CHAIN_SPLIT_MAX` tokens as that many
one-token subsequences (runtimes/openvino_paged.py). Arm `split0` turns that off (every pass one
subsequence); each `splitK` verifies chains of up to K tokens split. All arms run the n-gram
drafter over DB (no model DB) with the same cached verify-cost curve, so their plans are the
same and only the passes' cost differs. Every prompt runs in every arm and in plain decoding,
in alternating order, each generation measured again while the hypervisor stole more than 5% of
it. Reports per category and overall the geometric mean over prompts of decode and end-to-end
tokens/s against plain decoding, and tau; with --exact, every output must equal plain decoding's.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from statistics import geometric_mean

from edge_spec import Pipeline
from edge_spec.bench.machine import describe_machine, least_stolen
from edge_spec.bench.prompts import load_prompts
from edge_spec.pipeline import GenerationConfig

MAX_STEAL = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--ngram-db", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=10, help="prompts per category")
    parser.add_argument("--exact", action="store_true", help="f32 compute, as --exact runs")
    parser.add_argument("--split", default="4", help="comma-separated longest split chains, one arm each")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, limit=args.limit)
    arms: dict[str, Pipeline] = {
        "none": Pipeline.load(args.bundle, drafter="none", exact=args.exact, model_db=None, learn=False)
    }
    for longest in [0] + [int(k) for k in args.split.split(",")]:
        pipe = Pipeline.load(
            args.bundle, drafter="ngram", exact=args.exact, static_db=args.ngram_db, model_db=None, learn=False
        )
        if not hasattr(pipe.session, "split_max"):
            raise SystemExit(f"{args.bundle}: its session is not the paged OpenVINO one; nothing to compare")
        pipe.session.split_max = longest
        arms[f"split{longest}"] = pipe
    # warm every arm up on the longest prompt: the first long pass after compiling costs more
    longest_prompt = max(prompts, key=lambda p: len(arms["none"].encode(p.as_input())))
    for pipe in arms.values():
        pipe.generate(pipe.encode(longest_prompt.as_input()), GenerationConfig(max_new_tokens=16))

    config = GenerationConfig(max_new_tokens=128)
    runs: dict[str, dict[str, list]] = {name: defaultdict(list) for name in arms}
    differ: dict[str, int] = defaultdict(int)
    for i, prompt in enumerate(prompts):
        outputs = {}
        for name in list(arms) if i % 2 == 0 else list(arms)[::-1]:
            pipe = arms[name]
            ids = pipe.encode(prompt.as_input())
            result, _, _ = least_stolen(lambda: pipe.generate(ids, config), MAX_STEAL, name)  # noqa: B023
            outputs[name] = result.tokens
            for key in (prompt.category, "all"):
                runs[name][key].append(result.stats)
        for name, tokens in outputs.items():
            if tokens != outputs["none"]:
                if args.exact:
                    raise SystemExit(f"{prompt.prompt_id}: {name}'s output differs from plain decoding")
                differ[name] += 1

    numerics = "exact" if args.exact else "default"
    print(f"{describe_machine()['cpu']}, {args.bundle.name}, {numerics}, {len(prompts)} prompts, 128 new tokens")
    for name, count in differ.items():
        print(f"{name}: {count} outputs differ from plain decoding (default numerics: see `edge-spec bench`)")
    for category, base in runs["none"].items():
        line = f"{category:15s}"
        for name in list(arms)[1:]:
            mine = runs[name][category]
            decode = geometric_mean([a.decode_tokens_per_s / b.decode_tokens_per_s for a, b in zip(mine, base)])
            e2e = geometric_mean([a.tokens_per_s / b.tokens_per_s for a, b in zip(mine, base)])
            tau = sum(s.new_tokens for s in mine) / max(1, sum(s.target_forwards for s in mine))
            line += f" | {name} decode {decode:.3f}x e2e {e2e:.3f}x tau {tau:.2f}"
        print(line)
    for pipe in arms.values():
        pipe.close()


if __name__ == "__main__":
    main()
