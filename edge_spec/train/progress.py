"""Progress of a FastDraft run, reported to whoever shows it (the CLI draws rich progress bars).

The library never prints: it calls these methods (no-ops here) and logs.
"""

from __future__ import annotations

from typing import Any

STAGES = ("scan", "pretrain", "generate", "evaluate", "label", "distill", "align", "save")


class ProgressCallbacks:
    """Subclass and override what you want to show. `stage` is one of STAGES."""

    def stage_started(self, stage: str, total: int | None, done: int = 0, description: str = "") -> None:
        """STAGE begins (or resumes at DONE) with TOTAL units of work (files, steps, samples)."""

    def advanced(self, stage: str, done: int, info: dict[str, Any] | None = None) -> None:
        """STAGE has DONE units finished; INFO carries e.g. {"loss": 3.2, "tokens_per_s": 950.0}."""

    def stage_finished(self, stage: str, info: dict[str, Any] | None = None) -> None:
        """STAGE is over (completed, or stopped with a checkpoint)."""
