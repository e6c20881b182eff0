"""Which sample a training step reads: a seeded permutation per epoch, a pure function of the step.

The k-th sample drawn overall is permutation(seed, salt, epoch)[k % n] with epoch = k // n, so
resuming at any step reads exactly what an uninterrupted run would have read, with no saved
iterator state.
"""

from __future__ import annotations

import numpy as np


class EpochOrder:
    """Sample indices for a stream over N samples, reshuffled every epoch."""

    def __init__(self, n: int, seed: int, salt: int):
        if n <= 0:
            raise ValueError("EpochOrder needs at least one sample")
        self.n = n
        self.seed = seed
        self.salt = salt
        self._epoch = -1
        self._perm = np.zeros(0, dtype=np.int64)

    def index(self, k: int) -> int:
        """The sample index of the K-th draw (0-based) of the stream."""
        epoch, pos = divmod(k, self.n)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, self.salt, epoch]).permutation(self.n)
            self._epoch = epoch
        return int(self._perm[pos])

    def indices(self, start: int, count: int) -> list[int]:
        return [self.index(k) for k in range(start, start + count)]
