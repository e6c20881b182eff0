"""A reduced-vocabulary draft's full-vocabulary twin, for runtimes that need the target's vocabulary.

OpenVINO GenAI's draft-model mode requires the draft to share the target's vocabulary, which a
reduced-vocabulary draft (edge_spec/drafters/draft_vocab.py) does not. Its twin has the
target's vocabulary and the same weights: the embedding is tied, so giving every token outside
the subset the "other" slot's row makes the twin read those tokens exactly as the draft is fed
them, and score them all with the other slot's logit. It behaves as the draft does, except that
where the other slot wins the twin proposes some token outside the subset (the draft never
would), and it pays for the full LM head: that is the runtime's cost, which the comparison shows.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from edge_spec.bundle import staged_directory
from edge_spec.drafters.draft_vocab import OTHER, VOCAB_FILE, DraftVocabulary
from edge_spec.export.exporter import TOKENIZER_FILES

log = logging.getLogger(__name__)


def needs_twin(draft_dir: Path) -> bool:
    """Whether DRAFT_DIR is a reduced-vocabulary draft."""
    return (Path(draft_dir) / VOCAB_FILE).is_file()


def full_vocabulary_twin(draft_dir: Path, target_vocab: int, cache_root: Path) -> Path:
    """DRAFT_DIR's twin over TARGET_VOCAB tokens, built once under CACHE_ROOT (reused when present)."""
    import torch
    from transformers import AutoModelForCausalLM

    draft_dir = Path(draft_dir)
    out = Path(cache_root) / f"{draft_dir.name}-fullvocab"
    if (out / "model.safetensors").is_file() and (out / "config.json").is_file():
        return out
    model = AutoModelForCausalLM.from_pretrained(draft_dir, dtype=torch.float32)
    vocab = DraftVocabulary.load(draft_dir / VOCAB_FILE, model.config.vocab_size, target_vocab)
    if not model.config.tie_word_embeddings or vocab.other is None:
        raise ValueError(f"{draft_dir}: a full-vocabulary twin needs tied embeddings and an 'other' slot")
    weight = model.get_input_embeddings().weight.detach()
    rows = torch.from_numpy(vocab.to_draft(np.arange(target_vocab)))
    model.resize_token_embeddings(target_vocab)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(weight[rows])
    model.tie_weights()
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        ids = getattr(model.config, name, None)
        if isinstance(ids, int):
            setattr(model.config, name, _target_id(vocab, ids))
        elif isinstance(ids, list):
            setattr(model.config, name, [_target_id(vocab, i) for i in ids])
    with staged_directory(out, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        for name in TOKENIZER_FILES:
            if (draft_dir / name).is_file():
                shutil.copy2(draft_dir / name, tmp / name)
    log.info("full-vocabulary twin of %s written to %s", draft_dir, out)
    return out


def _target_id(vocab: DraftVocabulary, draft_id: int) -> int:
    target = int(vocab.target_ids[draft_id])
    return draft_id if target == OTHER else target
