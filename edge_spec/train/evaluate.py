"""How good a draft is for its target: acceptance on held-out text, and what a draft token costs.

Acceptance is measured on held-out samples the target wrote greedily (evaluation-pool corpus
snippets it continued, chat questions it answered). With the target's teacher-forced argmax
A[i] and the draft's D[i] at every generated position:
* agreement: the fraction of positions where D[i] == A[i];
* tau(k): exactly what chain drafting of k tokens would give in a greedy speculative loop. After
  the prefill emitted the first token, each verify step at position p accepts the m consecutive
  positions from p where D == A (m <= k, and a step never runs past the sample's end), emits
  m + 1 tokens (the bonus is the target's own) and moves to p + m + 1. The draft's chain after p
  is conditioned on its own earlier drafts, which equal the target's tokens wherever they were
  accepted, so teacher forcing gives the same tokens. tau = tokens / verify steps, over all samples.

A draft with its own reduced vocabulary (head_vocab.py) reads the samples in its ids and its
predictions are mapped back to target ids (never its 'other' slot), so the comparison is in the
target's ids, as at run time.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from edge_spec.drafters.draft_vocab import DraftVocabulary
from edge_spec.train.lm_loss import greedy_predictions

log = logging.getLogger(__name__)

CHAIN_LENGTHS = (4, 8)


def chain_steps(draft: np.ndarray, target: np.ndarray, k: int) -> tuple[int, int]:
    """(tokens emitted, verify steps) of greedy chain drafting of K tokens over the positions."""
    n = len(target)
    matches = draft[:n] == target
    p = tokens = steps = 0
    while p < n:
        limit = min(k, n - p - 1)
        m = 0
        while m < limit and matches[p + m]:
            m += 1
        tokens += m + 1
        steps += 1
        p += m + 1
    return tokens, steps


@dataclass
class Acceptance:
    """Acceptance figures of a draft on a set of held-out samples."""

    samples: int = 0
    positions: int = 0
    agreement: float = 0.0  # fraction of positions where the draft's argmax is the target's
    tau: dict[str, float] | None = None  # "k4", "k8" -> tokens per verify step (>= 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tally(rows: list[tuple[np.ndarray, np.ndarray]]) -> Acceptance:
    if not rows:
        return Acceptance(tau={f"k{k}": 1.0 for k in CHAIN_LENGTHS})
    agree = sum(int((d == t).sum()) for d, t in rows)
    positions = sum(len(t) for _, t in rows)
    tau = {}
    for k in CHAIN_LENGTHS:
        # the first position is the prefill's token; verify steps start after it
        counts = [chain_steps(d[1:], t[1:], k) for d, t in rows if len(t) > 1]
        tokens, steps = sum(c[0] for c in counts), sum(c[1] for c in counts)
        tau[f"k{k}"] = tokens / steps if steps else 1.0
    return Acceptance(samples=len(rows), positions=positions, agreement=agree / max(positions, 1), tau=tau)


@torch.no_grad()
def evaluate_acceptance(
    draft: Any,
    records: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    vocab: DraftVocabulary | None = None,
) -> dict[str, Any]:
    """Acceptance of DRAFT on held-out RECORDS ({"ids", "start", "target_argmax", "kind"}), overall and per kind.

    VOCAB: the draft's own ids (None: the target's).
    """
    was_training = draft.training
    draft.eval()
    by_kind: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    try:
        for i, record in enumerate(records):
            ids, start = record["ids"], record["start"]
            target = np.asarray(record["target_argmax"], dtype=np.int64)
            predicted = _draft_argmax(draft, ids[:-1], vocab)[start - 1 :]
            by_kind.setdefault(record.get("kind", "code"), []).append((predicted, target))
            if progress:
                progress(i + 1)
    finally:
        draft.train(was_training)
    everything = [row for rows in by_kind.values() for row in rows]
    result = _tally(everything).as_dict()
    result["by_kind"] = {kind: _tally(rows).as_dict() for kind, rows in sorted(by_kind.items())}
    return result


def _draft_argmax(draft: Any, ids: list[int], vocab: DraftVocabulary | None) -> np.ndarray:
    """The draft's greedy next token after each prefix of IDS, in target ids."""
    if vocab is None:
        return greedy_predictions(draft, torch.tensor([ids])).numpy()
    inputs = torch.from_numpy(vocab.to_draft(ids))[None]
    return vocab.target_ids[greedy_predictions(draft, inputs, never=vocab.other).numpy()]


@dataclass
class CostRatio:
    """Time per decoded token at batch 1 (KV cache, torch, this process's threads)."""

    draft_ms: float
    target_ms: float
    ratio: float  # draft / target
    context: int
    threads: int


@torch.no_grad()
def measure_cost_ratio(draft: Any, target: Any, context: int = 128, steps: int = 8, rounds: int = 7) -> CostRatio:
    """Time one decode step of DRAFT and of TARGET at batch 1 after CONTEXT tokens; report the ratio.

    Rounds alternate between the two models and the median of each is kept, so a machine busy
    with other work skews both alike. A draft with a reduced vocabulary is timed as it is: its
    smaller head is what runs (mapping its logits back to target ids is a gather, not timed).
    """
    from transformers import DynamicCache

    def prepare(model: Any) -> tuple[Any, DynamicCache]:
        model.eval()
        high = min(model.config.vocab_size, 1000)  # a reduced draft vocabulary may be tiny
        ids = torch.randint(min(3, high - 1), high, (1, context), generator=torch.Generator().manual_seed(0))
        cache = DynamicCache(config=model.config)
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        return model, cache

    def one_round(model: Any, cache: DynamicCache) -> float:
        token = torch.tensor([[min(5, model.config.vocab_size - 1)]])
        cache.crop(context)
        started = time.perf_counter()
        for _ in range(steps):
            model(input_ids=token, past_key_values=cache, use_cache=True)
        return (time.perf_counter() - started) / steps

    was = draft.training, target.training
    try:
        models = [prepare(draft), prepare(target)]
        for model, cache in models:  # warm-up
            one_round(model, cache)
        times: list[list[float]] = [[], []]
        for _ in range(rounds):
            for i, (model, cache) in enumerate(models):
                times[i].append(one_round(model, cache))
    finally:
        draft.train(was[0])
        target.train(was[1])
    draft_s, target_s = statistics.median(times[0]), statistics.median(times[1])
    result = CostRatio(
        draft_ms=draft_s * 1e3,
        target_ms=target_s * 1e3,
        ratio=draft_s / target_s,
        context=context,
        threads=torch.get_num_threads(),
    )
    log.info(
        "cost per token: draft %.2f ms, target %.2f ms, ratio %.3f", result.draft_ms, result.target_ms, result.ratio
    )
    return result
