"""DRAFT_DIR: what a run keeps there, and the model directory it leaves at the end.

DRAFT_DIR/
  config.json, model.safetensors, generation_config.json   the draft, in Hugging Face format
  draft_vocab.safetensors   with --head-vocab: the target token of each draft id (draft_vocab.py)
  tokenizer.json, tokenizer_config.json, ...               the target's tokenizer files, copied
  recipe.json             options, sizes, data stats, time per stage, machine, versions
  fastdraft_report.json   acceptance on held-out data before and after alignment (and distillation)
  checkpoint/             see checkpoint.py
  fastdraft_data/         corpus token stores, generated samples, the target's labels (reused by --resume)

A new run may start in a directory that holds only a fastdraft_data/ copied from an earlier run:
it reuses the scan and the target-written samples (generation is the slow part) when that run
had the same data options (DATA_STAMP in the data dir records them). The target's labels for
token-level distillation (teacher_labels.py) are reused the same way: they depend on the target,
corpus and seed, which the stamp covers, and on --seq-len, which their own teacher.json records.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from edge_spec.drafters.draft_vocab import VOCAB_FILE, DraftVocabulary
from edge_spec.errors import EdgeSpecError
from edge_spec.train.checkpoint import has_checkpoint

log = logging.getLogger(__name__)

DATA_DIR = "fastdraft_data"
DATA_STAMP = "data_options.json"  # the options the data dir's scan and samples were made with
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
    if draft_dir.is_dir() and any(p.name != DATA_DIR for p in draft_dir.iterdir()):
        raise EdgeSpecError(
            f"{draft_dir}: exists and is not empty (and holds no checkpoint); choose another directory "
            f"(one holding only a {DATA_DIR}/ copied from an earlier run is fine)"
        )
    draft_dir.mkdir(parents=True, exist_ok=True)
    return False


def claim_data_dir(data_dir: Path, options: dict[str, Any]) -> None:
    """Stamp DATA_DIR with the data OPTIONS of a new run, or check the stamp of a copied one.

    A data dir made with other options (target, corpus, seed, sample counts, generation settings)
    would silently give other data, so it is refused. One from before stamps existed is reused
    with a warning: its generation.json still guards the plan of jobs.
    """
    stamp = data_dir / DATA_STAMP
    if stamp.is_file():
        try:
            saved = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if not isinstance(saved, dict):
            raise EdgeSpecError(f"{stamp}: unreadable; remove {data_dir} or start in another directory")
        differs = first_difference(saved, options)
        if differs:
            raise EdgeSpecError(f"{data_dir}: was made with {differs}; use the same options or remove it")
        log.info("reusing the corpus scan and target samples in %s", data_dir)
        return
    if data_dir.is_dir() and any(data_dir.iterdir()):
        log.warning("%s: made by an older edge-spec (no %s); reusing it unchecked", data_dir, DATA_STAMP)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_json(stamp, options)


def copy_tokenizer(target_dir: Path, draft_dir: Path) -> list[str]:
    """Copy the target's tokenizer files into DRAFT_DIR; the names copied."""
    copied = []
    for name in TOKENIZER_FILES:
        if (target_dir / name).is_file():
            shutil.copyfile(target_dir / name, draft_dir / name)
            copied.append(name)
    return copied


def save_draft_model(model: Any, draft_dir: Path, target_dir: Path, vocab: DraftVocabulary | None = None) -> None:
    """The draft as a Hugging Face model dir (safetensors), with the target's generation settings.

    A draft with its own VOCAB gets the map next to its config, and its generation settings'
    token ids in draft ids (like its config's: the model never sees a target id).
    """
    from transformers import GenerationConfig

    from edge_spec.train.draft_config import draft_token_ids

    model.save_pretrained(draft_dir, safe_serialization=True)
    config = model.config
    try:
        generation = GenerationConfig.from_pretrained(target_dir)
    except OSError:
        generation = None
    if generation is None:  # from the draft's config: its ids are the draft's already
        generation = GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
        )
    elif vocab is not None:
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(generation, name, draft_token_ids(getattr(generation, name, None), vocab))
    generation.save_pretrained(draft_dir)
    if vocab is not None:
        vocab.save(draft_dir / VOCAB_FILE)


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


def first_difference(saved: dict[str, Any], options: dict[str, Any]) -> str | None:
    """'--flag SAVED, not NOW' for the first option in OPTIONS whose value differs from SAVED's."""
    for name, value in options.items():
        if saved.get(name) != value:
            return f"--{name.replace('_', '-')} {saved.get(name)!r}, not {value!r}"
    return None
