"""The decoding loop: prefill, then one target forward per emitted token.

This is plain greedy decoding, the reference every speculative mode must reproduce token for
token. Stop conditions, streaming and stats live here so the speculative loop shares them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_spec.engine.stats import GenerationStats
from edge_spec.runtimes.base import TargetSession


@dataclass
class StopRule:
    """When to stop: EOS ids, a token budget, stop strings (checked on the decoded text)."""

    max_new_tokens: int
    eos_token_ids: frozenset[int] = frozenset()
    stop_strings: tuple[str, ...] = ()
    cancel: threading.Event | None = None


@dataclass
class DecodeResult:
    tokens: list[int]
    stats: GenerationStats
    top2_margins: list[float] = field(default_factory=list)
    top1_logits: list[float] = field(default_factory=list)


# on_tokens(new_token_ids) -> text so far (or None); lets the caller stream and check stop strings
TokenSink = Callable[[Sequence[int]], str | None]


def greedy_decode(
    session: TargetSession,
    prompt: Sequence[int],
    rule: StopRule,
    on_tokens: TokenSink | None = None,
    record_margins: bool = False,
) -> DecodeResult:
    """Greedy decoding continuing from the session's committed cache (a chat keeps its past)."""
    if not prompt:
        raise ValueError("the prompt is empty: give at least one token")
    stats = GenerationStats(prompt_tokens=len(prompt))
    forward_s0, calls0 = session.forward_seconds, session.forward_calls
    tokens: list[int] = []
    margins: list[float] = []
    top1: list[float] = []
    start = time.perf_counter()
    session.reserve(session.length + len(prompt) + rule.max_new_tokens)

    logits = session.forward(np.asarray(prompt), logit_rows=np.array([len(prompt) - 1])).logits[-1]
    ttft = 0.0
    while True:
        token = int(np.argmax(logits))
        if record_margins:
            margins.append(_top2_margin(logits))
            top1.append(float(logits[token]))
        tokens.append(token)
        if not ttft:
            ttft = time.perf_counter() - start
        text = on_tokens([token]) if on_tokens else None
        reason = stop_reason(token, len(tokens), text, rule)
        if reason:
            stats.stop_reason = reason
            break
        logits = session.forward(np.asarray([token])).logits[-1]
    session.commit()

    stats.new_tokens = len(tokens)
    stats.target_forwards = session.forward_calls - calls0
    stats.finish(
        wall_s=time.perf_counter() - start,
        ttft_s=ttft,
        forward_s=session.forward_seconds - forward_s0,
    )
    return DecodeResult(tokens=tokens, stats=stats, top2_margins=margins, top1_logits=top1)


def stop_reason(token: int, count: int, text: str | None, rule: StopRule) -> str:
    if token in rule.eos_token_ids:
        return "eos"
    if text is not None and any(s in text for s in rule.stop_strings):
        return "stop_string"
    if rule.cancel is not None and rule.cancel.is_set():
        return "cancelled"
    if count >= rule.max_new_tokens:
        return "max_new_tokens"
    return ""


def _top2_margin(logits: np.ndarray) -> float:
    top2 = np.partition(logits, -2)[-2:]
    return float(abs(top2[1] - top2[0]))
