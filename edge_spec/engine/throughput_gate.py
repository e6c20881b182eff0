"""Whether a costly way of drafting pays here: the tokens per second each way has delivered.

Estimates (verify-cost curve, calibrated acceptance) decide most of a step; this decides the
rest from what actually happened. Two arms per context: the costly one (run the draft model;
verify the planned tree) and the cheap one (do without). Each arm keeps decayed sums of tokens
emitted and wall seconds spent in the steps it was chosen; the arm with more tokens per second
wins its context. Each arm is tried a few times first, and the loser keeps being tried now and
then, less often the longer it keeps losing, so a context that starts to pay is noticed again.
Contexts are small integers the caller chooses (say, how long the n-gram tiers' guess is).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ArmRecord:
    """Decayed totals of the steps one arm was chosen in."""

    tokens: float = 0.0
    seconds: float = 0.0
    trials: int = 0

    def add(self, tokens: int, seconds: float, keep: float) -> None:
        self.tokens = self.tokens * keep + tokens
        self.seconds = self.seconds * keep + seconds
        self.trials += 1

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ContextRecord:
    """Both arms of one context, and when the losing arm is next retried."""

    costly: ArmRecord = field(default_factory=ArmRecord)
    cheap: ArmRecord = field(default_factory=ArmRecord)
    since_retry: int = 0
    retry_every: int = 8


@dataclass
class ThroughputGate:
    """Chooses, per context, the arm with the higher measured tokens per second.

    min_trials: steps each arm gets before the rates are compared. keep: decay per recorded
    step (0.9: about the last ten steps of an arm count). retry_every / max_retry_every: the
    losing arm is retried after this many steps, the interval doubling each time it loses again.
    margin: how much faster the costly arm must be to win (costs its timing leaves out, such as
    catching up after idling, are paid on every switch).
    """

    min_trials: int = 3
    margin: float = 0.0
    keep: float = 0.9
    retry_every: int = 8
    max_retry_every: int = 64
    contexts: dict[int, ContextRecord] = field(default_factory=dict)

    def choose(self, context: int) -> bool:
        """True: take the costly arm in CONTEXT this step."""
        record = self.contexts.setdefault(context, ContextRecord(retry_every=self.retry_every))
        if record.costly.trials < self.min_trials:
            return True
        if record.cheap.trials < self.min_trials:
            return False
        costly_wins = self._costly_wins(record)
        record.since_retry += 1
        if record.since_retry >= record.retry_every:
            record.since_retry = 0
            return not costly_wins
        return costly_wins

    def record(self, context: int, costly: bool, tokens: int, seconds: float) -> None:
        """The step chosen in CONTEXT emitted TOKENS in SECONDS (all of the step, drafting included)."""
        record = self.contexts.setdefault(context, ContextRecord(retry_every=self.retry_every))
        before = self._costly_wins(record)
        both_tried = min(record.costly.trials, record.cheap.trials) >= self.min_trials
        (record.costly if costly else record.cheap).add(tokens, seconds, self.keep)
        if both_tried and costly != before:  # a retry of the losing arm
            if self._costly_wins(record) == before:
                record.retry_every = min(2 * record.retry_every, self.max_retry_every)
            else:
                record.retry_every = self.retry_every

    def _costly_wins(self, record: ContextRecord) -> bool:
        return record.costly.rate >= record.cheap.rate * (1.0 + self.margin)

    def share_costly(self) -> dict[int, float]:
        """Per context, the fraction of recorded steps that took the costly arm (for logs and stats)."""
        return {
            ctx: r.costly.trials / max(1, r.costly.trials + r.cheap.trials) for ctx, r in sorted(self.contexts.items())
        }
