"""The speculative decoding loop: draft a tree, verify it in one target pass, keep the best path.

    prefill the prompt                       -> the first token (the root of the first tree)
    repeat until a stop rule fires:
        draft   a CandidateTree after the root     (drafter, cut to size by the planner)
        verify  [root, tree...] in ONE forward     (each node sees only its ancestors)
        accept  the longest path equal to the target's argmax, plus the bonus token
        keep    the K/V of the root and that path  (the rest is forgotten in O(rejected))
        emit    the accepted tokens + bonus; the bonus becomes the next root
        observe drafter and planner learn what was accepted

Every emitted token is the target's argmax given exactly the tokens before it, so the output is
plain greedy decoding's (engine/generate.py), whatever the drafter proposes. The last emitted
token is never fed to the target, so the cache always holds the prompt plus all emitted tokens
but the last.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from edge_spec.drafters.base import DraftBudget, Drafter
from edge_spec.engine.acceptance import verify_greedy
from edge_spec.engine.generate import DecodeResult, StopRule, TokenSink, stop_reason
from edge_spec.engine.planner import DraftPlanner
from edge_spec.engine.stats import GenerationStats
from edge_spec.runtimes.base import TargetSession

MAX_DEPTH = 16


def speculative_decode(
    session: TargetSession,
    drafter: Drafter,
    planner: DraftPlanner,
    prompt: Sequence[int],
    rule: StopRule,
    on_tokens: TokenSink | None = None,
    context: Sequence[int] | None = None,
) -> DecodeResult:
    """Greedy speculative decoding continuing from the session's committed cache.

    CONTEXT: the tokens already in the cache (a chat's earlier turns), shown to the drafter.
    """
    if not prompt:
        raise ValueError("the prompt is empty: give at least one token")
    start = time.perf_counter()
    stats = GenerationStats(prompt_tokens=len(prompt), drafter=drafter.name)
    forward_s0, calls0 = session.forward_seconds, session.forward_calls
    base = session.length
    session.reserve(base + len(prompt) + rule.max_new_tokens + planner.max_nodes + 1)
    tokens: list[int] = []
    depth_reached = np.zeros(MAX_DEPTH + 1, dtype=np.int64)
    depth_accepted = np.zeros(MAX_DEPTH + 1, dtype=np.int64)
    draft_s = 0.0

    def emit(new: Sequence[int]) -> tuple[int, str]:
        """Append NEW one token at a time until a stop rule fires: (how many went out, reason)."""
        for count, token in enumerate(new, 1):
            tokens.append(int(token))
            text = on_tokens([int(token)]) if on_tokens else None
            reason = stop_reason(int(token), len(tokens), text, rule)
            if reason:
                return count, reason
        return len(new), ""

    # prefill: only the last row's logits are needed
    logits = session.forward(np.asarray(prompt), logit_rows=np.array([len(prompt) - 1])).logits[-1]
    session.commit()
    root = int(np.argmax(logits))
    _, reason = emit([root])
    ttft = time.perf_counter() - start
    drafter.reset()
    planner.new_request()
    drafter.observe([*(context or ()), *prompt, root])

    while not reason:
        step_start = time.perf_counter()
        forward_before = session.forward_seconds
        # draft: the drafter proposes, the planner keeps what pays on this device
        remaining = rule.max_new_tokens - len(tokens)
        budget = DraftBudget(max_nodes=planner.max_nodes, max_depth=min(MAX_DEPTH, remaining))
        tree = planner.plan(drafter.propose(budget))
        step_draft_s = time.perf_counter() - step_start
        draft_s += step_draft_s

        # verify: the root and every node in one pass; a node sits one position below its parent.
        # Pads (seen by no node, never kept) fill the pass to the planner's rows: on some
        # backends a pass of the same size as the last is much cheaper (planner.py).
        depths = tree.depths
        pads = planner.pass_rows - len(tree) - 1
        positions = session.length + np.concatenate([[0], depths, np.zeros(pads, dtype=np.int64)])
        feed = np.concatenate([[root], tree.tokens, np.full(pads, root)])
        rows = np.arange(len(tree) + 1)
        logits = session.forward(feed, positions, tree.attention(pads), logit_rows=rows).logits
        verdict = verify_greedy(tree, np.argmax(logits, axis=-1))

        # keep: the root's and the accepted nodes' K/V, compacted in order
        session.keep(verdict.kept_rows)
        planner.observe(tree, verdict.path)

        # emit: accepted tokens, then the bonus (a stop rule may cut the list short)
        sent, reason = emit(verdict.emitted)
        drafter.observe(verdict.emitted[:sent])
        root = verdict.emitted[-1]

        # stats: acceptance per depth and per drafter tier
        if len(tree):
            deepest = int(depths.max())
            depth_reached[1 : deepest + 1] += 1
            depth_accepted[1 : len(verdict.path) + 1] += 1
            stats.drafted_tokens += len(tree)
            stats.accepted_tokens += len(verdict.path)
            for node, source in enumerate(tree.sources):
                hits = stats.tier_hits.setdefault(source, [0, 0])
                hits[0] += 1
                hits[1] += node in verdict.path
        step_s = time.perf_counter() - step_start
        planner.note_step(step_s, session.forward_seconds - forward_before, step_draft_s, sent)

    # a stop rule may have cut the last step short: the cache keeps exactly what was emitted
    # (but the last token, as always)
    session.truncate(base + len(prompt) + len(tokens) - 1)

    stats.stop_reason = reason
    stats.new_tokens = len(tokens)
    stats.target_forwards = session.forward_calls - calls0
    reached = depth_reached[1:]
    stats.accepted_per_depth = (depth_accepted[1:][reached > 0] / reached[reached > 0]).round(4).tolist()
    stats.finish(
        wall_s=time.perf_counter() - start,
        ttft_s=ttft,
        forward_s=session.forward_seconds - forward_s0,
        draft_s=draft_s,
    )
    return DecodeResult(tokens=tokens, stats=stats)
