"""Checkpoints of a FastDraft run: tensors in safetensors, everything else in JSON. Never pickle.

DRAFT_DIR/checkpoint/
  model.safetensors      the draft's parameters (named_parameters: a tied embedding once)
  optimizer.safetensors  AdamW's state per parameter: "<name>/step", "<name>/exp_avg", ...
  state.json             stage, step, data position, seed, options, timings, results so far

A checkpoint is written to checkpoint.new/ and swapped in with renames, so a crash while saving
leaves the previous checkpoint (a half-finished swap is repaired on the next load).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
STATE = "state.json"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
FORMAT = 1


def checkpoint_dir(draft_dir: Path) -> Path:
    return draft_dir / CHECKPOINT


def _repair(draft_dir: Path) -> None:
    current, new, old = (draft_dir / f"{CHECKPOINT}{s}" for s in ("", ".new", ".old"))
    if not (current / STATE).is_file() and (old / STATE).is_file():
        if current.exists():
            shutil.rmtree(current)
        old.rename(current)
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)


def has_checkpoint(draft_dir: Path) -> bool:
    return any((draft_dir / f"{CHECKPOINT}{s}" / STATE).is_file() for s in ("", ".old"))


def save_checkpoint(
    draft_dir: Path,
    state: dict[str, Any],
    model: torch.nn.Module | None,
    optimizer: torch.optim.Optimizer | None,
    carry_model: bool = True,
) -> None:
    """Write STATE (JSON-able), MODEL's parameters and OPTIMIZER's state as the run's checkpoint.

    Without MODEL, the previous checkpoint's model file is kept (unless carry_model is False);
    without OPTIMIZER there is no optimizer state (a stage that starts uses a fresh one).
    """
    new = draft_dir / f"{CHECKPOINT}.new"
    if new.exists():
        shutil.rmtree(new)
    new.mkdir(parents=True)
    if model is not None:
        save_file({name: p.detach().contiguous() for name, p in model.named_parameters()}, str(new / MODEL))
    elif carry_model and (draft_dir / CHECKPOINT / MODEL).is_file():
        shutil.copyfile(draft_dir / CHECKPOINT / MODEL, new / MODEL)
    if model is not None and optimizer is not None:
        save_file(optimizer_tensors(model, optimizer), str(new / OPTIMIZER))
    (new / STATE).write_text(json.dumps({"format": FORMAT, **state}, indent=1), encoding="utf-8")
    current, old = draft_dir / CHECKPOINT, draft_dir / f"{CHECKPOINT}.old"
    if old.exists():
        shutil.rmtree(old)
    if current.exists():
        current.rename(old)
    new.rename(current)
    if old.exists():
        shutil.rmtree(old)
    log.info("checkpoint saved: stage %s, step %s", state.get("stage"), state.get("step"))


def load_state(draft_dir: Path) -> dict[str, Any]:
    """The checkpoint's state.json (after repairing an interrupted save)."""
    _repair(draft_dir)
    path = draft_dir / CHECKPOINT / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgeSpecError(f"{path}: unreadable checkpoint ({exc}); start a new run in another directory") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EdgeSpecError(f"{path}: not a checkpoint of this edge-spec version (format {FORMAT})")
    return state


def has_model(draft_dir: Path) -> bool:
    return (draft_dir / CHECKPOINT / MODEL).is_file()


def has_optimizer(draft_dir: Path) -> bool:
    return (draft_dir / CHECKPOINT / OPTIMIZER).is_file()


@torch.no_grad()
def load_model(draft_dir: Path, model: torch.nn.Module) -> None:
    """Copy the checkpoint's parameters into MODEL (same architecture)."""
    tensors = load_file(str(draft_dir / CHECKPOINT / MODEL))
    params = dict(model.named_parameters())
    if set(tensors) != set(params):
        raise ValueError(f"{draft_dir / CHECKPOINT}: the checkpoint's parameters do not match the draft model")
    for name, tensor in tensors.items():
        params[name].copy_(tensor)


def optimizer_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """OPTIMIZER's per-parameter state keyed "<parameter name>/<state key>" (scalars as [1])."""
    names = {id(p): name for name, p in model.named_parameters()}
    out = {}
    for param, entries in optimizer.state.items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                out[f"{names[id(param)]}/{key}"] = value.detach().reshape(-1).contiguous().clone()
            else:
                out[f"{names[id(param)]}/{key}"] = torch.tensor([float(value)], dtype=torch.float64)
    return out


def load_optimizer(draft_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Restore OPTIMIZER's per-parameter state (its param groups come from how it was built)."""
    tensors = load_file(str(draft_dir / CHECKPOINT / OPTIMIZER))
    params = dict(model.named_parameters())
    template = optimizer.state_dict()
    index = {id(p): i for i, p in enumerate(p for group in optimizer.param_groups for p in group["params"])}
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        name, _, entry = key.rpartition("/")
        param = params[name]
        value = tensor.reshape(()) if entry == "step" else tensor.reshape(param.shape)
        state.setdefault(index[id(param)], {})[entry] = value.clone()
    optimizer.load_state_dict({"state": state, "param_groups": template["param_groups"]})
