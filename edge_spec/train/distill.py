"""Token-level distillation data: batches of corpus sequences with the target's greedy labels.

The labels come from teacher_labels.py (the target's argmax at every position of a corpus
sequence). Step s reads draws [s * batch, (s + 1) * batch) of a seeded per-epoch shuffle of the
labelled sequences (sample_order.py), so a resumed stage reads what an uninterrupted one would.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from edge_spec.train.sample_order import EpochOrder
from edge_spec.train.teacher_labels import TeacherLabels

DISTILL_SALT = 0xD15


def distill_sequences(tokens: int, seq_len: int) -> int:
    """Sequences to label for about TOKENS tokens of distillation (at least one when TOKENS > 0)."""
    return max(tokens // seq_len, 1) if tokens > 0 else 0


def distill_steps(sequences: int, batch: int, epochs: float) -> int:
    """Steps that make EPOCHS passes over SEQUENCES labelled sequences."""
    return math.ceil(sequences * epochs / batch) if sequences else 0


class DistillBatches:
    """Batches of the distillation steps (target ids), a pure function of the step."""

    def __init__(self, labels: TeacherLabels, sequences: int, batch: int, seed: int):
        # a copied data dir may hold more labels than this run asked for: it uses the first ones
        self.labels = labels
        self.batch_size = batch
        self.order = EpochOrder(min(sequences, labels.count), seed, DISTILL_SALT)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.asarray(self.order.indices(step * self.batch_size, self.batch_size))
        return self.labels.batch(rows)
