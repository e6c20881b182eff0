"""The draft's architecture: the target's family (same config class), fewer layers, narrower.

With a 49152-token vocabulary the LM head dominates a small draft (hidden 256: 12.6M of its
15.4M matmul weights), so the draft's per-token cost is estimated by the weights one decode step
multiplies by (head + layers; the embedding lookup is free) and the default size is the widest
hidden size, in multiples of the target's attention head size, whose estimate stays within
DEFAULT_COST_BUDGET of the target's. For SmolLM2-135M that is hidden 256 with 4 layers
(estimate 0.114; measured at batch 1 in torch, about 0.10 of the target's time per token).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch

from edge_spec.drafters.draft_vocab import OTHER, DraftVocabulary
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

DEFAULT_LAYERS = 4
DEFAULT_COST_BUDGET = 0.12  # estimated draft cost per token / target's


def head_dim_of(config: Any) -> int:
    """The attention head size of CONFIG (explicit head_dim, else hidden / heads)."""
    head_dim = getattr(config, "head_dim", None)
    if isinstance(head_dim, int) and head_dim > 0:
        return head_dim
    return config.hidden_size // config.num_attention_heads


def per_token_weights(config: Any) -> int:
    """Weights one decode step multiplies by: attention and MLP of every layer, plus the LM head."""
    hidden, head_dim = config.hidden_size, head_dim_of(config)
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    inter = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    gated = getattr(config, "model_type", "") != "gpt2"  # gate + up + down, or fc + proj
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    mlp = (3 if gated else 2) * hidden * inter
    return config.num_hidden_layers * (attention + mlp) + config.vocab_size * hidden


def default_draft_size(target: Any) -> tuple[int, int]:
    """(layers, hidden) for a draft of TARGET: 4 layers, the widest hidden within the cost budget."""
    head_dim = head_dim_of(target)
    layers = min(DEFAULT_LAYERS, target.num_hidden_layers)
    budget = DEFAULT_COST_BUDGET * per_token_weights(target)
    best = head_dim
    hidden = head_dim
    while hidden <= target.hidden_size // 2:
        if per_token_weights(draft_config_for(target, layers, hidden)) <= budget:
            best = hidden
        hidden += head_dim
    return layers, best


def check_draft_size(target: Any, layers: int | None, hidden: int | None) -> tuple[int, int]:
    """The (layers, hidden) to build: defaults filled in, bad values refused with one line."""
    default_layers, default_hidden = default_draft_size(target)
    head_dim = head_dim_of(target)
    if layers is None:
        layers = default_layers
    if hidden is None:
        hidden = default_hidden
    if not 1 <= layers <= target.num_hidden_layers:
        raise EdgeSpecError(f"--layers {layers}: must be 1..{target.num_hidden_layers} (the target's layer count)")
    if not head_dim <= hidden <= target.hidden_size or hidden % head_dim:
        raise EdgeSpecError(
            f"--hidden {hidden}: must be a multiple of {head_dim} (the target's attention head size) "
            f"from {head_dim} to {target.hidden_size} (the target's hidden size)"
        )
    return layers, hidden


def draft_config_for(target: Any, layers: int, hidden: int, vocab_size: int | None = None) -> Any:
    """TARGET's config (same class, same model_type) resized to LAYERS layers of width HIDDEN.

    Heads keep the target's head size and its query/KV head ratio; the MLP keeps its width ratio;
    the embedding is tied (the head is most of the draft; one matrix serves both ends). VOCAB_SIZE
    (a reduced draft vocabulary, see with_draft_vocab) replaces the target's when given.
    """
    head_dim = head_dim_of(target)
    heads = max(hidden // head_dim, 1)
    config = copy.deepcopy(target)
    config.hidden_size = hidden
    config.num_hidden_layers = layers
    config.num_attention_heads = heads
    if isinstance(getattr(target, "head_dim", None), int):
        config.head_dim = head_dim
    target_kv = getattr(target, "num_key_value_heads", None)
    if target_kv:
        group = max(target.num_attention_heads // target_kv, 1)
        kv = max(heads // group, 1)
        while heads % kv:
            kv -= 1
        config.num_key_value_heads = kv
    inter = getattr(target, "intermediate_size", None)
    if inter:
        config.intermediate_size = max(32, round(hidden * inter / target.hidden_size / 32) * 32)
    elif getattr(target, "n_inner", None):
        config.n_inner = max(32, round(hidden * target.n_inner / target.hidden_size / 32) * 32)
    layer_types = getattr(target, "layer_types", None)
    if layer_types:  # keep the mix of sliding and full layers, the last one as the target's last
        n = len(layer_types)
        picks = [round(i * (n - 1) / max(layers - 1, 1)) for i in range(layers)] if layers > 1 else [n - 1]
        config.layer_types = [layer_types[i] for i in picks]
    config.tie_word_embeddings = True
    if vocab_size:
        config.vocab_size = vocab_size
    for name in ("_name_or_path", "_commit_hash"):
        if hasattr(config, name):
            setattr(config, name, "")
    return config


def draft_token_ids(value: Any, vocab: DraftVocabulary) -> Any:
    """A special-token setting (an id, a list of ids or None) in the draft's ids."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [int(i) for i in vocab.to_draft(list(value))]
    return int(vocab.to_draft([value])[0])


def with_draft_vocab(config: Any, vocab: DraftVocabulary) -> Any:
    """CONFIG for a draft whose ids are VOCAB's: vocab_size and the bos/eos/pad ids in draft ids.

    The model only ever sees draft ids, so its own settings must be in them too (a generate()
    on the draft alone stops on the draft id of EOS, not on whatever the target's id means here).
    """
    config = copy.deepcopy(config)
    config.vocab_size = vocab.size
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if hasattr(config, name):
            setattr(config, name, draft_token_ids(getattr(config, name), vocab))
    return config


def draft_shape(config: Any) -> dict[str, int]:
    """The numbers a recipe records about a draft config."""
    return {
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "heads": config.num_attention_heads,
        "kv_heads": getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
        "head_dim": head_dim_of(config),
        "intermediate": getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 0,
        "vocab": config.vocab_size,
        "per_token_weights": per_token_weights(config),
    }


@torch.no_grad()
def pca_embedding(target_embedding: torch.Tensor, hidden: int) -> torch.Tensor:
    """TARGET_EMBEDDING [V, H] projected on its top HIDDEN principal directions, same overall std.

    Tokens the target places close together start close together in the draft, so the draft's
    head starts with the target's notion of which tokens are alike instead of noise. A draft
    wider than the target gets the extra columns zero.
    """
    emb = target_embedding.detach().to(torch.float32)
    centered = emb - emb.mean(dim=0, keepdim=True)
    keep = min(hidden, emb.shape[1])
    covariance = centered.T @ centered / max(emb.shape[0] - 1, 1)
    _, vectors = torch.linalg.eigh(covariance.double())  # ascending eigenvalues
    directions = vectors[:, -keep:].flip(-1).to(torch.float32)
    projected = centered @ directions
    projected *= emb.std() / projected.std().clamp_min(1e-12)
    if keep < hidden:
        projected = torch.cat([projected, projected.new_zeros(emb.shape[0], hidden - keep)], dim=1)
    return projected.contiguous()


def embedding_rows(target_embedding: torch.Tensor, vocab: DraftVocabulary | None) -> torch.Tensor:
    """The target's embedding rows of the draft's ids: row i is target row target_ids[i].

    The 'other' slot stands for every token outside the subset, so it starts as their mean row.
    """
    if vocab is None:
        return target_embedding
    ids = torch.from_numpy(vocab.target_ids)
    known = ids != OTHER
    rows = target_embedding.new_empty(vocab.size, target_embedding.shape[1])
    rows[known] = target_embedding[ids[known]]
    if vocab.other is not None:
        outside = ~torch.from_numpy(vocab.covers(np.arange(vocab.target_size)))
        pool = target_embedding[outside] if bool(outside.any()) else target_embedding
        rows[vocab.other] = pool.mean(dim=0)
    return rows
