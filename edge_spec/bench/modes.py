"""What the bench runs: a mode turns prompt token ids into one timed generation record.

A mode is edge-spec with one drafter ("none" is plain decoding, the baseline) or, with
`--compare genai`, an OpenVINO GenAI pipeline (genai.py). Every mode gets the same token ids, so
tokenisation never differs between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

PLAIN = "none"  # the baseline mode's name, as given to --drafter


@dataclass
class RunRecord:
    """One measured generation (with --repeat, the one whose wall time is the median).

    margins / top1_logits: plain decoding's top-1 minus top-2 logit and top-1 logit per emitted
    position (the near-tie audit needs them); None for modes that do not record them.
    accepted_per_depth: the engine's acceptance rate per draft-tree depth ([] for plain).
    steal: the share of CPU time the hypervisor gave other guests during the run (0: none or unknown).
    target_forwards: 0 when the runtime does not report it (then tau is the runtime's own, or 0).
    """

    tokens: list[int]
    wall_s: float
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    decode_tokens_per_s: float
    tau: float
    target_forwards: int = 0
    stop_reason: str = ""
    numerics: str = ""
    accepted_per_depth: list[float] = field(default_factory=list)
    margins: list[float] | None = None
    top1_logits: list[float] | None = None
    steal: float = 0.0

    @property
    def new_tokens(self) -> int:
        return len(self.tokens)

    def figures(self) -> dict[str, Any]:
        """The per-prompt numbers written to the JSON report (no token lists, no margins)."""
        return {
            "new_tokens": self.new_tokens,
            "tokens_per_s": self.tokens_per_s,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "tau": self.tau,
            "target_forwards": self.target_forwards,
            "wall_s": self.wall_s,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "accepted_per_depth": self.accepted_per_depth,
            "stop_reason": self.stop_reason,
            "numerics": self.numerics,
            "steal": self.steal,
        }


class Mode(Protocol):
    """A benchmark mode. reference: the mode whose tokens this one must reproduce."""

    name: str
    runtime: str  # "edge-spec" or "genai"
    reference: str
    numerics: str
    settings: dict[str, Any]

    def run(self, ids: list[int], max_new_tokens: int, ignore_eos: bool) -> RunRecord: ...

    def close(self) -> None: ...


class EdgeSpecMode:
    """An edge-spec Pipeline with one drafter. The plain mode records margins for the audit
    while it is timed: that is an np.partition over the vocabulary per token, about 0.1 ms
    (0.3% of a decode step of the bench target), cheaper than a second, untimed plain run.

    The n-gram drafter runs without a model database: learning from one prompt's output would
    speed up its next repeat, no bench prompt may fill a database, and one left next to the bundle
    by earlier use could hold earlier bench outputs.
    """

    runtime = "edge-spec"
    reference = PLAIN

    def __init__(
        self, bundle: Path, drafter: str, backend: str, device: str, exact: bool, static_db: Path | None = None
    ) -> None:
        from edge_spec.pipeline import Pipeline

        self.pipe = Pipeline.load(
            bundle,
            backend=backend,
            device=device,
            drafter=drafter,
            exact=exact,
            static_db=static_db,
            model_db=None,
            learn=False,
        )
        self.name = drafter
        self.numerics = self.pipe.session.numerics
        self.settings: dict[str, Any] = {"drafter": drafter}

    def encode(self, prompt: str | list[dict[str, str]]) -> list[int]:
        return self.pipe.encode(prompt)

    def run(self, ids: list[int], max_new_tokens: int, ignore_eos: bool) -> RunRecord:
        from edge_spec.pipeline import GenerationConfig

        config = GenerationConfig(max_new_tokens=max_new_tokens, ignore_eos=ignore_eos)
        plain = self.name == PLAIN
        result = self.pipe.generate(ids, config, record_margins=plain)
        s = result.stats
        top1 = getattr(result, "top1_logits", None)
        return RunRecord(
            tokens=list(result.tokens),
            wall_s=s.wall_s,
            ttft_s=s.ttft_s,
            tpot_s=s.tpot_s,
            tokens_per_s=s.tokens_per_s,
            decode_tokens_per_s=s.decode_tokens_per_s,
            tau=s.tau,
            target_forwards=s.target_forwards,
            stop_reason=s.stop_reason,
            numerics=s.numerics,
            accepted_per_depth=list(getattr(s, "accepted_per_depth", None) or []),
            margins=list(result.top2_margins) if plain else None,
            top1_logits=list(top1) if plain and top1 else None,
        )

    def close(self) -> None:
        close = getattr(self.pipe, "close", None)
        if close is not None:
            close()
