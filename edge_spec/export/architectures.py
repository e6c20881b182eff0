"""The architectures the exporter knows, and what differs between them.

Everything else about a model comes from transformers; this table only records what the
spec-layout wrapper must do differently (sliding-window masks, attention implementation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArchSpec:
    """How to wrap one architecture.

    mask_mapping: the model takes {"full_attention": m, "sliding_attention": m'} instead of
    one mask (models with per-layer attention types).
    attn_implementation: "sdpa" unless the model needs eager attention (logit soft-capping).
    """

    model_type: str
    mask_mapping: bool = False
    attn_implementation: str = "sdpa"
    has_sliding: bool = False

    def sliding_window(self, config: Any) -> int | None:
        """The window of the model's sliding-attention layers, or None when it has none."""
        if not self.has_sliding:
            return None
        window = getattr(config, "sliding_window", None)
        layer_types = getattr(config, "layer_types", None)
        if window is None:
            return None
        if self.mask_mapping and layer_types is not None and "sliding_attention" not in layer_types:
            return None
        return int(window)


SUPPORTED: dict[str, ArchSpec] = {
    spec.model_type: spec
    for spec in (
        ArchSpec("llama"),
        ArchSpec("mistral", has_sliding=True),
        ArchSpec("qwen2", mask_mapping=True, has_sliding=True),
        ArchSpec("qwen3", mask_mapping=True, has_sliding=True),
        ArchSpec("phi3", has_sliding=True),
        ArchSpec("gemma2", mask_mapping=True, attn_implementation="eager", has_sliding=True),
        ArchSpec("gemma3_text", mask_mapping=True, has_sliding=True),
        ArchSpec("gpt2"),
    )
}


def supported_list() -> str:
    return ", ".join(sorted(SUPPORTED))


def kv_shape(config: Any) -> tuple[int, int]:
    """(KV heads, head dim) of one layer's cache."""
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return int(kv_heads), int(head_dim)


def max_positions(config: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if value:
            return int(value)
    return 2048
