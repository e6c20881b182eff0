"""The context tier: n-grams of this request's prompt and output, and where each occurred.

This is prompt lookup (PLD) made a database: for every n-gram of 1..max_n tokens seen so far it
remembers the positions right after its most recent occurrences (LRU, `per_key` of them). A
draft copies what followed those occurrences of the history's current suffix, longest suffix
first. Continuations are read from the history itself, so they grow as the output does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# how far back a candidate's match with the history's end is followed (see ContextCandidate.match)
MATCH_CAP = 32


@dataclass(frozen=True)
class ContextCandidate:
    """A continuation copied from the history: after a match of ORDER tokens, SUPPORT occurrences agreed.

    MATCH: how many tokens before the copied spot equal the history's last ones (ORDER or more,
    up to MATCH_CAP). The index stops at max_n tokens, but a copy's acceptance keeps rising with
    its match: on SmolLM2-135M's greedy code outputs the first copied token was right 39% of the
    time after a 1-token match, 74% after 3, and 96% after 17 or more, where 11.5 copied tokens
    were right on average (benchmarks/context_match.py).
    """

    tokens: list[int]
    order: int
    support: int
    seen: int
    match: int


class ContextNgrams:
    def __init__(self, max_n: int = 4, per_key: int = 8):
        self.max_n = max_n
        self.per_key = per_key
        self.history: list[int] = []
        self.index: dict[tuple[int, ...], list[int]] = {}

    def reset(self) -> None:
        self.history = []
        self.index = {}

    def extend(self, tokens: Sequence[int]) -> None:
        """Append TOKENS; index every n-gram that ends at one of them."""
        history, index = self.history, self.index
        for token in tokens:
            history.append(int(token))
            end = len(history)
            for n in range(1, min(self.max_n, end) + 1):
                key = tuple(history[end - n : end])
                spots = index.get(key)
                if spots is None:
                    index[key] = [end]
                else:
                    spots.append(end)
                    if len(spots) > self.per_key:
                        del spots[0]

    def candidates(self, max_depth: int, max_candidates: int, min_support: dict[int, int]) -> list[ContextCandidate]:
        """Continuations of the current suffix, longest match first, most recent first.

        A continuation is proposed only when at least min_support[n] (default 1) of the
        occurrences of the n-token suffix agree on its first token (llama.cpp's lax thresholds).
        """
        history = self.history
        end = len(history)
        found: list[ContextCandidate] = []
        for n in range(min(self.max_n, end), 0, -1):
            spots = [p for p in self.index.get(tuple(history[end - n :]), ()) if p < end]
            if not spots:
                continue
            # per distinct next token: its most recent occurrence that runs max_depth tokens on,
            # or failing that its longest one (in a repetition the latest copy is the shortest)
            best: dict[int, int] = {}
            support: dict[int, int] = {}
            for p in reversed(spots):
                first = history[p]
                support[first] = support.get(first, 0) + 1
                have = best.get(first)
                if have is None or (end - have < max_depth and end - p > end - have):
                    best[first] = p
            for first, p in best.items():
                if support[first] < min_support.get(n, 1):
                    continue
                continuation = history[p : p + max_depth]
                if any(c.tokens[: len(continuation)] == continuation for c in found):
                    continue
                found.append(ContextCandidate(continuation, n, support[first], len(spots), self._match(p, n)))
                if len(found) >= max_candidates:
                    return found
        return found

    def _match(self, spot: int, order: int) -> int:
        """How many tokens before SPOT equal the history's last ones (at least ORDER, at most MATCH_CAP)."""
        history = self.history
        end = len(history)
        match = order
        while match < MATCH_CAP and spot - 1 - match >= 0 and history[spot - 1 - match] == history[end - 1 - match]:
            match += 1
        return match
