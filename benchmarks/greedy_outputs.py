"""The target's greedy outputs of an `edge-spec bench` run, each with the prompt ids it continues.

The scripts that replay drafters over what the target wrote (no model runs) read them here, so
a run whose prompt file has changed since is refused in one place, and `replay` steps a drafter
along one of them as the engine's loop would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_spec.bench.prompts import load_prompts
from edge_spec.bundle import load_manifest
from edge_spec.engine.acceptance import Verdict, verify_greedy
from edge_spec.engine.tree import CandidateTree
from edge_spec.tokenizer import BundleTokenizer


@dataclass
class GreedyOutput:
    """One prompt of the run: its category, prompt token ids and plain decoding's output ids."""

    prompt_id: str
    category: str
    prompt: list[int]
    output: list[int]


def greedy_outputs(result: Path, bundle: Path) -> tuple[dict, list[GreedyOutput]]:
    """(the run's JSON, its outputs of two tokens or more), prompts encoded by BUNDLE's tokenizer."""
    run = json.loads(result.read_text())
    prompts = {p.prompt_id: p for p in load_prompts(run["config"]["prompts_file"])}
    root, manifest = load_manifest(bundle)
    tokenizer = BundleTokenizer(root / manifest.tokenizer["dir"])
    outputs = []
    for record in run["prompts"]:
        output = record["results"]["none"]["tokens"]
        if len(output) < 2:  # stopped at once: no step to draft for
            continue
        given = prompts[record["prompt_id"]].as_input()
        prompt = tokenizer.encode(given) if isinstance(given, str) else tokenizer.apply_chat_template(given)
        if len(prompt) != record["prompt_tokens"]:
            raise SystemExit(f"{result}: {record['prompt_id']} does not match its prompt file; rerun the bench")
        outputs.append(GreedyOutput(record["prompt_id"], record["category"], prompt, output))
    return run, outputs


def verify_along(tree: CandidateTree, output: list[int], root: int) -> Verdict:
    """What a target pass would accept of TREE drafted after OUTPUT[ROOT] (the step's root).

    The target's argmax is known along the output only, but only that path can be accepted:
    a node off it gets -1, which no token equals.
    """
    argmax = np.full(len(tree) + 1, -1, dtype=np.int64)
    argmax[0] = output[root + 1]
    ahead = root + 1 + tree.depths
    inside = ahead < len(output)
    argmax[1:][inside] = np.asarray(output)[ahead[inside]]
    return verify_greedy(tree, argmax)


def replay(
    propose: Callable[[int], CandidateTree], observe: Callable[[list[int]], None], prompt: list[int], output: list[int]
) -> Iterator[tuple[CandidateTree, Verdict, int]]:
    """Each step of drafting along OUTPUT after PROMPT: (tree, verdict, tokens emitted).

    OUTPUT[0] came from the prefill; PROPOSE(remaining tokens) drafts after the history, which
    OBSERVE is told as it grows (the prompt with the first token, then each step's tokens).
    """
    observe([*prompt, output[0]])
    i = 0  # output[i] is the root: emitted, not yet fed to the target
    while i < len(output) - 1:
        remaining = len(output) - 1 - i
        tree = propose(remaining)
        verdict = verify_along(tree, output, i)
        step = min(len(verdict.emitted), remaining)
        observe(output[i + 1 : i + 1 + step])
        yield tree, verdict, step
        i += step
