"""DRAFT_DIR: what a run keeps there, and the model directory it leaves at the end.

DRAFT_DIR/
  config.json, model.safetensors, generation_config.json   the draft, in Hugging Face format
  tokenizer.json, tokenizer_config.json, ...               the target's tokenizer files, copied
  recipe.json             options, sizes, data stats, time per stage, machine, versions
  fastdraft_report.json   acceptance on held-out data before and after alignment
  checkpoint/             see checkpoint.py
  fastdraft_data/         corpus token stores, generated samples (reused by --resume)
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from edge_spec.errors import EdgeSpecError
from edge_spec.train.checkpoint import has_checkpoint

DATA_DIR = "fastdraft_data"
RECIPE = "recipe.json"
REPORT = "fastdraft_report.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
)


def prepare_draft_dir(draft_dir: Path, resume: bool) -> bool:
    """Create DRAFT_DIR or check it can be used; True when there is a checkpoint to resume."""
    if draft_dir.exists() and not draft_dir.is_dir():
        raise EdgeSpecError(f"{draft_dir}: is a file; give a directory for the draft")
    if has_checkpoint(draft_dir):
        if not resume:
            raise EdgeSpecError(
                f"{draft_dir}: holds the checkpoint of an earlier run; pass --resume to continue it "
                "or choose another output directory"
            )
        return True
    if draft_dir.is_dir() and any(draft_dir.iterdir()):
        raise EdgeSpecError(f"{draft_dir}: exists and is not empty (and holds no checkpoint); choose another directory")
    draft_dir.mkdir(parents=True, exist_ok=True)
    return False


def copy_tokenizer(target_dir: Path, draft_dir: Path) -> list[str]:
    """Copy the target's tokenizer files into DRAFT_DIR; the names copied."""
    copied = []
    for name in TOKENIZER_FILES:
        if (target_dir / name).is_file():
            shutil.copyfile(target_dir / name, draft_dir / name)
            copied.append(name)
    return copied


def save_draft_model(model: Any, draft_dir: Path, target_dir: Path) -> None:
    """The draft as a Hugging Face model dir (safetensors), with the target's generation settings."""
    from transformers import GenerationConfig

    model.save_pretrained(draft_dir, safe_serialization=True)
    try:
        generation = GenerationConfig.from_pretrained(target_dir)
    except OSError:
        config = model.config
        generation = GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
        )
    generation.save_pretrained(draft_dir)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def cpu_model_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "cpu": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
