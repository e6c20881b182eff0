"""The drafter protocol: what the speculative loop asks of anything that proposes tokens.

Drafters are numpy-only and know nothing of backends. Per request the loop calls reset(),
observe(prompt + first token), then per step propose() and observe(emitted). close() is called
once when the pipeline closes (a drafter that learns across runs saves then).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from edge_spec.engine.tree import CandidateTree


@dataclass(frozen=True)
class DraftBudget:
    """The most the loop will verify in one pass: nodes in the tree, and its depth."""

    max_nodes: int = 32
    max_depth: int = 16


class Drafter(ABC):
    """Proposes a CandidateTree of tokens that may follow the emitted history."""

    name: str = ""

    @abstractmethod
    def reset(self) -> None:
        """Forget the current request (a new one starts)."""

    @abstractmethod
    def observe(self, tokens: Sequence[int]) -> None:
        """TOKENS were appended to the history (the prompt, then each step's emitted tokens)."""

    @abstractmethod
    def propose(self, budget: DraftBudget) -> CandidateTree:
        """Candidates for the tokens after the history; an empty tree when there is no guess.

        Each node's `probs` entry is the drafter's own estimate that it is accepted given its
        parent is; the planner calibrates it against what actually gets accepted.
        """

    def close(self) -> None:  # noqa: B027 (optional hook: most drafters learn nothing to persist)
        """The pipeline is closing: persist anything learned."""


class NoDrafter(Drafter):
    """Proposes nothing: the speculative loop then runs plain decoding."""

    name = "none"

    def reset(self) -> None:
        pass

    def observe(self, tokens: Sequence[int]) -> None:
        pass

    def propose(self, budget: DraftBudget) -> CandidateTree:
        return CandidateTree()
