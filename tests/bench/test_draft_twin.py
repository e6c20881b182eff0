"""A reduced-vocabulary draft's full-vocabulary twin (what GenAI's draft-model mode is given)
predicts what the draft predicts, in target ids."""

from __future__ import annotations

import numpy as np
import torch
from reduced_draft import reduced_self_draft
from transformers import AutoModelForCausalLM

from edge_spec.bench.draft_twin import full_vocabulary_twin, needs_twin
from edge_spec.drafters.draft_vocab import VOCAB_FILE, DraftVocabulary


def test_twin_predicts_what_the_draft_predicts(zoo, tmp_path) -> None:  # noqa: ANN001
    model_dir = zoo.model("llama")
    size = AutoModelForCausalLM.from_pretrained(model_dir).config.vocab_size
    draft_dir = reduced_self_draft(model_dir, tmp_path / "reduced", set(range(200, 5000)))
    assert needs_twin(draft_dir) and not needs_twin(model_dir)
    twin_dir = full_vocabulary_twin(draft_dir, size, tmp_path / "cache")
    assert full_vocabulary_twin(draft_dir, size, tmp_path / "cache") == twin_dir  # built once

    draft = AutoModelForCausalLM.from_pretrained(draft_dir, dtype=torch.float32)
    twin = AutoModelForCausalLM.from_pretrained(twin_dir, dtype=torch.float32)
    assert twin.config.vocab_size == size
    vocab = DraftVocabulary.load(draft_dir / VOCAB_FILE, draft.config.vocab_size, size)
    # target ids in and outside the subset (the latter read as the 'other' slot by both)
    ids = np.random.default_rng(0).integers(0, size, 64)
    with torch.no_grad():
        draft_logits = draft(torch.from_numpy(vocab.to_draft(ids))[None]).logits[0].numpy()
        twin_logits = twin(torch.from_numpy(ids)[None]).logits[0].numpy()
    mapped = vocab.to_target_logits(draft_logits)
    covered = vocab.covers(np.arange(size))
    np.testing.assert_allclose(twin_logits[:, covered], mapped[:, covered], rtol=1e-5, atol=1e-5)
    draft_best = vocab.target_ids[draft_logits.argmax(-1)]
    proposes = draft_best >= 0  # where the draft's argmax is a real token, the twin's is the same
    assert proposes.any()
    np.testing.assert_array_equal(twin_logits.argmax(-1)[proposes], draft_best[proposes])
