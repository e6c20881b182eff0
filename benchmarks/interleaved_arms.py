"""Arms of a side-by-side benchmark run prompt by prompt in one process (ngram_db_ab.py,
loop_ab.py): every prompt in every arm, in alternating order, so the machine's drift hits all
arms alike, each generation measured again while the hypervisor stole more than 5% of it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import geometric_mean

from edge_spec import Pipeline
from edge_spec.bench.machine import describe_machine, least_stolen
from edge_spec.bench.prompts import BenchPrompt
from edge_spec.pipeline import GenerationConfig

MAX_STEAL = 0.05


def run_interleaved(
    arms: dict[str, Pipeline], prompts: list[BenchPrompt], exact: bool, max_new_tokens: int = 128
) -> tuple[dict[str, dict[str, list]], dict[str, int]]:
    """Stats per arm and per category (and "all"), and how many outputs differ from arm "none"
    (plain decoding). EXACT: a differing output stops the run, since it cannot be a near-tie."""
    config = GenerationConfig(max_new_tokens=max_new_tokens)
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
                if exact:
                    raise SystemExit(f"{prompt.prompt_id}: {name}'s output differs from plain decoding")
                differ[name] += 1
    return runs, differ


def print_header(bundle: Path, exact: bool, prompts: int, differ: dict[str, int]) -> None:
    """The machine, bundle, numerics and prompt count, then each arm's outputs that differ from plain."""
    numerics = "exact" if exact else "default"
    print(f"{describe_machine()['cpu']}, {bundle.name}, {numerics}, {prompts} prompts, 128 new tokens")
    for name, count in differ.items():
        print(f"{name}: {count} outputs differ from plain decoding (default numerics: see `edge-spec bench`)")


def mean_ratio(mine: list, base: list, attribute: str) -> float:
    """Geometric mean over prompts of ATTRIBUTE (a GenerationStats field) in MINE over BASE."""
    return geometric_mean([getattr(a, attribute) / getattr(b, attribute) for a, b in zip(mine, base)])
