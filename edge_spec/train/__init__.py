"""Training draft models for a target LM (FastDraft: pre-training, then alignment on target-written text).

    from edge_spec.train import FastDraftConfig, train_fastdraft

    result = train_fastdraft(FastDraftConfig(target="smollm2", output="smollm2-draft", max_minutes=30))
    if not result.finished:  # stopped with a checkpoint; run again with resume=True
        ...

Needs torch (the `export` extra). The CLI is `edge-spec train fastdraft`. Names are imported
lazily, so importing the package (the CLI does) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FastDraftConfig": "edge_spec.train.fastdraft",
    "FastDraftResult": "edge_spec.train.fastdraft",
    "train_fastdraft": "edge_spec.train.fastdraft",
    "ProgressCallbacks": "edge_spec.train.progress",
    "TrainingInterrupted": "edge_spec.train.run_control",
    "GenerationSettings": "edge_spec.train.target_generation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edge_spec.train' has no attribute {name!r}")
