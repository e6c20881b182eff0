"""When a run stops, and when it saves: wall-time budget, step budget, Ctrl-C, checkpoint cadence.

Ctrl-C during a training step only raises a flag (the step finishes, so the optimizer is never
left half-updated); the loop then saves a checkpoint and raises TrainingInterrupted. A second
Ctrl-C interrupts at once, as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; its checkpoint is saved (pass resume=True to continue)."""

    def __init__(self, checkpoint: Path, stage: str, step: int):
        super().__init__(f"interrupted in {stage} at step {step}; checkpoint saved in {checkpoint}")
        self.checkpoint = checkpoint
        self.stage = stage
        self.step = step


class RunControl:
    """Decides between steps whether to stop (and why) and whether a checkpoint is due."""

    def __init__(
        self,
        max_minutes: float | None,
        checkpoint_minutes: float,
        stop_after_steps: int | None = None,
        clock=time.monotonic,  # noqa: ANN001
    ):
        self.clock = clock
        self.started = clock()
        self.deadline = None if max_minutes is None else self.started + 60.0 * max_minutes
        self.checkpoint_every = 60.0 * checkpoint_minutes
        self.last_checkpoint = self.started
        self.stop_after_steps = stop_after_steps
        self.steps = 0  # training steps taken by this process
        self.interrupted = False

    def count_step(self) -> None:
        self.steps += 1

    def stop_reason(self) -> str | None:
        """ "interrupted", "max-minutes", "max-steps", or None to go on."""
        if self.interrupted:
            return "interrupted"
        if self.deadline is not None and self.clock() >= self.deadline:
            return "max-minutes"
        if self.stop_after_steps is not None and self.steps >= self.stop_after_steps:
            return "max-steps"
        return None

    def checkpoint_due(self) -> bool:
        return self.clock() - self.last_checkpoint >= self.checkpoint_every

    def checkpointed(self) -> None:
        self.last_checkpoint = self.clock()

    @contextlib.contextmanager
    def deferred_interrupts(self) -> Iterator[None]:
        """Within the block, the first Ctrl-C sets self.interrupted instead of raising."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame) -> None:  # noqa: ANN001
            self.interrupted = True
            signal.signal(signal.SIGINT, previous)

        previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler
        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
