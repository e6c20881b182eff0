"""Token-level distillation data: the target's own next-token choice on corpus sequences.

What the draft must learn is the target's greedy choice, not the corpus's next token (the target
itself agrees with the stdlib's next token only ~59% of the time). Target-written samples
(target_generation.py) teach exactly that but cost a target forward per generated token, one
token at a time; teacher-forced labelling gets the target's argmax at every position of a
256-token corpus sequence in one batched forward (~800 tokens/s on two cores in bf16, against
~70/s for generation), so the draft can distil millions of them within an hour.

On disk, in the run's data dir: `teacher.inputs` and `teacher.labels` (uint16 or int32, one row of
seq_len per sequence) and `teacher.json` ({"sequences", "seq_len", "done"}). Sequences are the
pre-training order's draws 0, 1, ... (a pure function of the corpus and the seed), labelled in
batches and appended, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_spec.train.lm_loss import fused_head_supported
from edge_spec.train.pretrain import PackedSequences

log = logging.getLogger(__name__)

STEM = "teacher"


def _bf16_is_fast() -> bool:
    """bf16 matmuls run natively (AVX512-BF16 / AMX); elsewhere they are slower than f32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class TeacherLabels:
    """The labelled sequences of a run's data dir (read side)."""

    def __init__(self, data_dir: Path, dtype: np.dtype):
        meta = json.loads((data_dir / f"{STEM}.json").read_text(encoding="utf-8"))
        self.seq_len = int(meta["seq_len"])
        self.count = int(meta["done"])
        shape = (self.count, self.seq_len)
        self.inputs = np.memmap(data_dir / f"{STEM}.inputs", dtype=dtype, mode="r", shape=shape)
        self.labels = np.memmap(data_dir / f"{STEM}.labels", dtype=dtype, mode="r", shape=shape)

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, labels) [len(rows), seq_len] in target ids."""
        rows = np.sort(np.asarray(rows))
        inputs = torch.from_numpy(np.asarray(self.inputs[rows], dtype=np.int64))
        labels = torch.from_numpy(np.asarray(self.labels[rows], dtype=np.int64))
        return inputs, labels


def labelled_count(data_dir: Path, seq_len: int) -> int:
    """How many sequences DATA_DIR holds labels for (0 when none, or for another seq_len)."""
    path = data_dir / f"{STEM}.json"
    if not path.is_file():
        return 0
    meta = json.loads(path.read_text(encoding="utf-8"))
    return int(meta["done"]) if int(meta["seq_len"]) == seq_len else 0


@torch.no_grad()
def label_sequences(
    target: Any,
    packed: PackedSequences,
    sequences: int,
    data_dir: Path,
    dtype: np.dtype,
    batch: int = 8,
    on_batch: Callable[[int], bool] | None = None,
    bf16: bool | None = None,
) -> int:
    """Label draws 0 .. SEQUENCES-1 of PACKED with TARGET's argmax, appending to DATA_DIR.

    ON_BATCH(done) is called after each batch is on disk; returning False stops early (the
    caller's time limit or Ctrl-C). BF16: run a bf16 copy of the target (None: when the CPU
    has native bf16 matmuls; False gives the f32 argmax exactly). Returns how many sequences
    are labelled.
    """
    seq_len = packed.seq_len
    done = labelled_count(data_dir, seq_len)
    for suffix in ("inputs", "labels"):  # rows written after the last count was saved are redone
        path = data_dir / f"{STEM}.{suffix}"
        if path.exists():
            with open(path, "r+b") as rows:
                rows.truncate(done * seq_len * np.dtype(dtype).itemsize)
    if done >= sequences:  # all on disk already: no copy of the target for nothing
        log.info("teacher labels: %d of %d sequences (on disk)", done, sequences)
        return done
    model = target
    if _bf16_is_fast() if bf16 is None else bf16:
        import copy

        model = copy.deepcopy(target).to(torch.bfloat16)  # near-ties may flip: labels, not outputs
    model.eval()
    while done < sequences:
        size = min(batch, sequences - done)
        inputs, _ = packed.batch(done, size)
        labels = _argmax(model, inputs)
        _append(data_dir / f"{STEM}.inputs", inputs.numpy().astype(dtype))
        _append(data_dir / f"{STEM}.labels", labels.numpy().astype(dtype))
        done += size
        meta = {"sequences": sequences, "seq_len": seq_len, "done": done}
        tmp = data_dir / f"{STEM}.json.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(data_dir / f"{STEM}.json")
        if on_batch is not None and not on_batch(done):
            break
    log.info("teacher labels: %d of %d sequences", done, sequences)
    return done


def _argmax(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """MODEL's next-token argmax [B, T], a sequence's logits at a time when the head is a plain product.

    The full [B, T, vocab] logits of a large vocabulary would be most of the memory; a head with
    a bias (or soft-capping, a logit scale) goes through the model's own forward.
    """
    if not fused_head_supported(model):
        return model(input_ids=inputs, use_cache=False).logits.argmax(-1)
    head = model.get_output_embeddings().weight
    hidden = model.base_model(input_ids=inputs, use_cache=False).last_hidden_state
    return torch.stack([(h @ head.T).argmax(-1) for h in hidden])


def _append(path: Path, rows: np.ndarray) -> None:
    with open(path, "ab") as out:
        out.write(rows.tobytes())
