"""Draft quality at an equal verify budget: the n-gram drafter against prompt lookup, exactly.

    python benchmarks/draft_tau.py RESULT.json BUNDLE --ngram-db DB [--budgets 8,16] [--max-ngram 3]

RESULT.json is an `edge-spec bench` run with the `none` mode (the target's greedy outputs). No
model runs: every drafter is replayed over each greedy output, and a step accepts the longest
drafted path that the output continues, plus the bonus token, exactly as a target pass would.
tau is new tokens per step (the first token, from the prefill, not counted on either side).

Why: a run's measured tau is the planner's choice as much as the drafter's, since on a device
where a longer pass costs more the planner drafts less than it could. This script compares the
candidates themselves, at the same number of draft tokens per step:

  lookup k=K g=G   prompt lookup as OpenVINO GenAI and Hugging Face run it: the last G (then
                   G-1, ... 1) tokens searched in prompt + output, the first earlier match's next
                   K tokens drafted as one chain;
  chain K          the n-gram drafter (context, static DB), its most likely chain cut to K;
  tree K           the n-gram drafter's K most likely nodes (parents kept), one tree per step.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from greedy_outputs import greedy_outputs, replay  # benchmarks/ is on the path when this script runs

from edge_spec.drafters.base import DraftBudget
from edge_spec.drafters.ngram import NgramDrafter
from edge_spec.drafters.ngram_static import StaticNgramDB
from edge_spec.engine.tree import ROOT, CandidateTree

Proposer = Callable[[list[int]], CandidateTree]  # history -> draft


def prompt_lookup(history: Sequence[int], k: int, max_ngram: int) -> list[int]:
    """The K tokens after the first earlier occurrence of the history's last n tokens (n = G..1)."""
    seq = np.asarray(history)
    for n in range(min(max_ngram, seq.size - 1), 0, -1):
        tail = seq[-n:]
        windows = np.lib.stride_tricks.sliding_window_view(seq[:-1], n)
        hits = np.flatnonzero((windows == tail).all(axis=1))
        for start in hits + n:
            if start < seq.size:
                return seq[start : start + k].tolist()
    return []


def best_chain(tree: CandidateTree, k: int) -> CandidateTree:
    """TREE's most likely root-to-leaf chain (by the drafter's own estimates), cut to K nodes."""
    chance = tree.path_probability()
    path, node = [], ROOT
    while len(path) < k:
        children = tree.children(node)
        if children.size == 0:
            break
        node = int(children[np.argmax(chance[children])])
        path.append(node)
    return tree.subtree(np.array(path, dtype=np.int64))


def top_nodes(tree: CandidateTree, k: int) -> CandidateTree:
    """TREE's K most likely nodes: a path probability never exceeds the parent's, so the set is
    closed under parents (ties go to the earlier node, which is the parent)."""
    chance = tree.path_probability()
    order = np.lexsort((np.arange(len(tree)), -chance))[:k]
    return tree.subtree(order)


def steps_along(propose: Proposer, observe: Callable[[list[int]], None], prompt: list[int], output: list[int]) -> int:
    """Steps a drafter needs to emit OUTPUT[1:] after PROMPT + OUTPUT[0] (the prefill's token)."""
    history: list[int] = []

    def told(tokens: list[int]) -> None:
        history.extend(tokens)
        observe(tokens)

    return sum(1 for _ in replay(lambda _remaining: propose(history), told, prompt, output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, help="an `edge-spec bench` JSON with the none mode")
    parser.add_argument("bundle", type=Path, help="the bundle the run used (its tokenizer)")
    parser.add_argument("--ngram-db", type=Path, default=None, help="the static DB the run used")
    parser.add_argument("--budgets", default="8,16", help="draft tokens per step, comma-separated")
    parser.add_argument("--max-ngram", type=int, default=3, help="prompt lookup's g")
    args = parser.parse_args()

    run, outputs = greedy_outputs(args.result, args.bundle)
    static = StaticNgramDB.open(args.ngram_db) if args.ngram_db else None
    drafter = NgramDrafter(static_db=static)
    budgets = [int(b) for b in args.budgets.split(",")]

    def ours(cut: Callable[[CandidateTree, int], CandidateTree], k: int) -> Proposer:
        return lambda _history: cut(drafter.propose(DraftBudget(max_nodes=32, max_depth=k)), k)

    arms: dict[str, tuple[Proposer, Callable[[list[int]], None]]] = {}
    for k in budgets:
        arms[f"lookup k={k} g={args.max_ngram}"] = (
            lambda h, k=k: CandidateTree.chain(prompt_lookup(h, k, args.max_ngram)),
            lambda _t: None,
        )
        arms[f"chain {k}"] = (ours(best_chain, k), drafter.observe)
        arms[f"tree {k}"] = (ours(top_nodes, k), drafter.observe)

    tokens: dict[str, int] = defaultdict(int)
    steps: dict[tuple[str, str], int] = defaultdict(int)
    for item in outputs:
        for category in (item.category, "all"):
            tokens[category] += len(item.output) - 1
        for name, (propose, observe) in arms.items():
            drafter.reset()
            count = steps_along(propose, observe, item.prompt, item.output)
            for category in (item.category, "all"):
                steps[(name, category)] += count

    categories = sorted(tokens, key=lambda c: (c == "all", c))
    print(f"{args.result.name}: exact tau per drafter on the greedy outputs ({len(run['prompts'])} prompts)")
    print(f"{'drafter':18s} " + " ".join(f"{c[:10]:>10s}" for c in categories))
    for name in arms:
        print(f"{name:18s} " + " ".join(f"{tokens[c] / steps[(name, c)]:10.2f}" for c in categories))


if __name__ == "__main__":
    main()
