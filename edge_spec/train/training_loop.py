"""One training stage (pre-training or alignment): steps from a batch function, AdamW, f32.

Checkpoints are written every few minutes and when the run stops (time or step budget, Ctrl-C)
by the `save(step)` callback the caller passes; the loop itself only decides when. Each step is
a pure function of its index (batches, learning rate), so the stage resumes exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from edge_spec.train.lm_loss import next_token_loss
from edge_spec.train.lr_schedule import learning_rate
from edge_spec.train.progress import ProgressCallbacks
from edge_spec.train.run_control import RunControl

log = logging.getLogger(__name__)

BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.01
CLIP_NORM = 1.0
LOSS_SMOOTHING = 0.95


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases)."""
    decay = [p for _, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    keep = [p for _, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": keep, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, foreach=True)


@dataclass
class StageTally:
    """What a stage has done so far (kept in the checkpoint, summed over resumed sessions)."""

    tokens: int = 0  # input tokens through the model
    scored: int = 0  # tokens the loss was on
    seconds: float = 0.0  # time inside training steps
    loss: float | None = None  # smoothed loss
    losses: list[float] = field(default_factory=list)  # smoothed loss every 5% of the stage

    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def run_stage(
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_at: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    total_steps: int,
    peak_lr: float,
    start_step: int,
    tally: StageTally,
    control: RunControl,
    save: Callable[[int], None],
    progress: ProgressCallbacks,
) -> tuple[int, str | None]:
    """Train from START_STEP to TOTAL_STEPS; returns (next step, stop reason or None when done).

    The caller saves the end-of-stage checkpoint; SAVE(step) is called here for the periodic ones
    and before stopping early.
    """
    model.train()
    step = start_step
    mark = max(total_steps // 20, 1)
    with control.deferred_interrupts():
        while step < total_steps:
            reason = control.stop_reason()
            if reason:
                save(step)
                return step, reason
            inputs, labels = batch_at(step)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, peak_lr)
            started = time.perf_counter()
            loss, scored = next_token_loss(model, inputs, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            elapsed = time.perf_counter() - started
            value = float(loss.detach())
            tally.tokens += inputs.numel()
            tally.scored += scored
            tally.seconds += elapsed
            tally.loss = value if tally.loss is None else LOSS_SMOOTHING * tally.loss + (1 - LOSS_SMOOTHING) * value
            step += 1
            control.count_step()
            if step % mark == 0 or step == total_steps:
                tally.losses.append(round(tally.loss, 4))
            if step % 50 == 0 or step == total_steps:
                log.info("%s step %d/%d loss %.3f %.0f tokens/s", name, step, total_steps, value, tally.tokens_per_s())
            progress.advanced(name, step, _info(value, tally, inputs.numel() / elapsed if elapsed else 0.0))
            if control.checkpoint_due() and step < total_steps:
                save(step)
                control.checkpointed()
    return step, None


def _info(loss: float, tally: StageTally, recent: float) -> dict[str, Any]:
    return {
        "loss": loss,
        "smoothed_loss": tally.loss,
        "tokens_per_s": recent,
        "mean_tokens_per_s": tally.tokens_per_s(),
    }
