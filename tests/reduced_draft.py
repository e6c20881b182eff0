"""A reduced-vocabulary draft (FR-Spec layout) built from a tiny model: the model itself, sliced."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np


def reduced_self_draft(model_dir: Path, out: Path, dropped: set[int]) -> Path:
    """MODEL_DIR as its own draft, with a vocabulary of every token but DROPPED (+ 'other')."""
    import torch
    from transformers import AutoModelForCausalLM

    from edge_spec.drafters.draft_vocab import OTHER, VOCAB_FILE, DraftVocabulary

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    size = model.config.vocab_size
    kept = [t for t in range(size) if t not in dropped]
    rows = torch.tensor(kept)
    with torch.no_grad():
        for module in {model.get_input_embeddings(), model.get_output_embeddings()}:
            weight = module.weight
            module.weight = torch.nn.Parameter(torch.cat([weight[rows], weight.mean(0, keepdim=True)]))
    model.config.vocab_size = len(kept) + 1
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, out / name)
    DraftVocabulary(np.asarray([*kept, OTHER]), size).save(out / VOCAB_FILE)
    return out
