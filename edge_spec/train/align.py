"""Alignment data: the target's own text (target_generation.py), with some pre-training mixed in.

Loss is on the target-generated part only: a continuation's corpus prompt is context, not a
target; a chat sample is scored from its user turn on (the question and the answer are both
the target's writing, the template's turn markers are what the draft must predict at run time
too), but not on the fixed system prompt that every sample repeats. The draft has to predict
what the target writes, so that is what it is fitted to; the corpus prompts were already seen
in pre-training.

Every `mix_every`-th step is a pre-training batch instead, continuing the pre-training stream
where pre-training stopped, so the draft keeps its coverage of the corpus (code completion is
the benchmark's task) while it fits the target's style. Step s is a pure function of s.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from edge_spec.train.lm_loss import IGNORE
from edge_spec.train.pretrain import PackedSequences
from edge_spec.train.sample_order import EpochOrder

ALIGN_SALT = 0xA11
MAX_SAMPLE_TOKENS = 1024


def align_steps(samples: int, batch: int, epochs: float, mix_every: int) -> int:
    """Total alignment steps: enough distillation steps for EPOCHS passes, plus the mixed-in ones."""
    distill = math.ceil(samples * epochs / batch) if samples else 0
    total = distill
    while mix_every > 1 and total - total // mix_every < distill:
        total += 1
    return total


class AlignBatches:
    """Batches of the alignment steps."""

    def __init__(
        self,
        samples: list[dict[str, Any]],
        batch: int,
        seed: int,
        pad_id: int,
        mix_every: int,
        pretrain: PackedSequences | None,
        pretrain_draws: int,
    ):
        self.samples = samples
        self.batch_size = batch
        self.pad_id = pad_id
        self.mix_every = mix_every if pretrain is not None else 0
        self.pretrain = pretrain
        self.pretrain_draws = pretrain_draws  # draws pre-training used; the mix continues after them
        self.order = EpochOrder(len(samples), seed, ALIGN_SALT) if samples else None

    def is_mix(self, step: int) -> bool:
        return self.mix_every > 1 and (step + 1) % self.mix_every == 0

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        mixed = (step + 1) // self.mix_every if self.mix_every > 1 else 0
        if self.is_mix(step):
            assert self.pretrain is not None
            return self.pretrain.batch(self.pretrain_draws + (mixed - 1) * self.batch_size, self.batch_size)
        assert self.order is not None
        distill_step = step - mixed
        chosen = [self.samples[i] for i in self.order.indices(distill_step * self.batch_size, self.batch_size)]
        return self.collate(chosen)

    def collate(self, chosen: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded inputs and labels (IGNORE before `start` and on padding)."""
        rows = [s["ids"][:MAX_SAMPLE_TOKENS] for s in chosen]
        width = max(len(r) for r in rows) - 1
        inputs = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, (row, sample) in enumerate(zip(rows, chosen)):
            n = len(row) - 1
            inputs[i, :n] = torch.tensor(row[:-1])
            first = max(int(sample["start"]) - 1, 0)  # label t is token t + 1
            labels[i, first:n] = torch.tensor(row[first + 1 :])
        return inputs, labels
