"""Pre-training data: the training pool's tokens packed into fixed-length sequences, shuffled.

The pool is one token stream (documents joined by EOS). Sequence i is tokens
[i * seq_len, (i + 1) * seq_len + 1): seq_len inputs and their next tokens, every token scored.
Step s reads draws [s * batch, (s + 1) * batch) of a seeded per-epoch shuffle (sample_order.py),
so the data position is the step and a resumed run reads what an uninterrupted one would.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from edge_spec.errors import EdgeSpecError
from edge_spec.train.corpus import TokenStore
from edge_spec.train.sample_order import EpochOrder

PRETRAIN_SALT = 0x9E7


def pretrain_steps(tokens: int, batch: int, seq_len: int) -> int:
    """Steps that train on about TOKENS tokens."""
    return math.ceil(tokens / (batch * seq_len)) if tokens > 0 else 0


class PackedSequences:
    """Batches of packed training sequences, a pure function of the draw number."""

    def __init__(self, store: TokenStore, seq_len: int, seed: int):
        self.store = store
        self.seq_len = seq_len
        self.count = (store.n_tokens - 1) // seq_len
        if self.count < 1:
            raise EdgeSpecError(
                f"the corpus has {store.n_tokens} training tokens, fewer than one --seq-len {seq_len} sequence; "
                "give a bigger corpus or a smaller --seq-len"
            )
        self.order = EpochOrder(self.count, seed, PRETRAIN_SALT)

    def batch(self, first_draw: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, labels) [size, seq_len] for draws first_draw .. first_draw + size - 1."""
        rows = []
        for index in self.order.indices(first_draw, size):
            start = index * self.seq_len
            rows.append(np.asarray(self.store.tokens[start : start + self.seq_len + 1], dtype=np.int64))
        block = torch.from_numpy(np.stack(rows))
        return block[:, :-1].contiguous(), block[:, 1:].contiguous()
