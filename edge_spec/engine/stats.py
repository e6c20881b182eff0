"""Per-generation statistics, named the same way everywhere (DESIGN.md, "Metrics")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class GenerationStats:
    """Figures for one generate call; never accumulated across calls.

    tau: tokens emitted per target forward, prefill included (plain decoding: 1.00).
    tokens_per_s: end to end (new tokens / wall time, prefill included).
    decode_tokens_per_s: new tokens after the first / time after the first token.
    """

    prompt_tokens: int = 0
    new_tokens: int = 0
    target_forwards: int = 0
    tau: float = 0.0
    wall_s: float = 0.0
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    tokens_per_s: float = 0.0
    decode_tokens_per_s: float = 0.0
    forward_share: float = 0.0
    draft_share: float = 0.0
    stop_reason: str = ""
    numerics: str = ""
    drafter: str = "none"
    drafted_tokens: int = 0  # tree nodes sent to the target for verification
    accepted_tokens: int = 0  # of those, how many were emitted
    # accepted_per_depth[d]: of the steps whose tree reached depth d+1, the share that accepted a
    # token at that depth
    accepted_per_depth: list[float] = field(default_factory=list)
    # tier_hits[source] = [nodes proposed, nodes accepted], per drafter tier ("context:3", "static:2"...)
    tier_hits: dict[str, list[int]] = field(default_factory=dict)

    def finish(self, wall_s: float, ttft_s: float, forward_s: float, draft_s: float = 0.0) -> None:
        self.wall_s = wall_s
        self.draft_share = draft_s / wall_s if wall_s > 0 else 0.0
        self.ttft_s = ttft_s
        self.tau = self.new_tokens / self.target_forwards if self.target_forwards else 0.0
        self.tokens_per_s = self.new_tokens / wall_s if wall_s > 0 else 0.0
        after_first = wall_s - ttft_s
        if self.new_tokens > 1 and after_first > 0:
            self.decode_tokens_per_s = (self.new_tokens - 1) / after_first
            self.tpot_s = after_first / (self.new_tokens - 1)
        self.forward_share = forward_s / wall_s if wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)
