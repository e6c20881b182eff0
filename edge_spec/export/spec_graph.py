"""The target's graph in the spec layout: one forward over a tree of new tokens.

The wrapper turns a Hugging Face causal LM into a pure function
``(input_ids, position_ids, mask, past K/V...) -> (logits, new K/V..., hidden states...)``
so that the runtime, not the graph, owns the KV cache. A 4D additive mask is what lets one pass
verify a whole candidate tree: the engine decides who sees whom, the graph only obeys.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations import sdpa_attention

from edge_spec.export.architectures import ArchSpec

MASK_MIN = torch.finfo(torch.float32).min


@dataclass(frozen=True)
class GraphIO:
    """Input and output names of the spec-layout graph, shared by both exporters."""

    num_layers: int
    hidden_outputs: tuple[str, ...]

    @property
    def inputs(self) -> list[str]:
        names = ["input_ids", "position_ids", "attention_mask"]
        for i in range(self.num_layers):
            names += [f"past_key.{i}", f"past_value.{i}"]
        return names

    @property
    def outputs(self) -> list[str]:
        names = ["logits"]
        for i in range(self.num_layers):
            names += [f"new_key.{i}", f"new_value.{i}"]
        return names + list(self.hidden_outputs)


class _NewEntriesCache(DynamicCache):
    """A DynamicCache pre-filled with the past that remembers what each layer appended.

    Layers concatenate past and new K/V for attention; the graph returns only the new entries,
    so the runtime appends T rows instead of receiving a copy of the whole cache back.
    """

    def __init__(self, past: list[tuple[torch.Tensor, torch.Tensor]]):
        super().__init__()
        for layer_idx, (key, value) in enumerate(past):
            # Fill the layers directly: DynamicLayer's lazy init concatenates onto an empty 1-D
            # tensor, which traces into a Concat that OpenVINO rejects.
            while len(self.layers) <= layer_idx:
                self.layers.append(DynamicLayer())
            layer = self.layers[layer_idx]
            layer.dtype, layer.device = key.dtype, key.device
            layer.keys, layer.values, layer.is_initialized = key, value, True
        self.new_entries: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):  # noqa: ANN001
        self.new_entries[layer_idx] = (key_states, value_states)
        return super().update(key_states, value_states, layer_idx, *args, **kwargs)


class SpecLayoutModule(torch.nn.Module):
    """Wraps a causal LM so that tracing it yields the spec-layout graph."""

    def __init__(self, model: torch.nn.Module, arch: ArchSpec, early_layer: int | None):
        super().__init__()
        self.model = model
        self.arch = arch
        self.num_layers = model.config.num_hidden_layers
        self.early_layer = early_layer

    @property
    def io(self) -> GraphIO:
        hidden = ("hidden_final",) + (("hidden_early",) if self.early_layer is not None else ())
        return GraphIO(self.num_layers, hidden)

    def forward(self, input_ids, position_ids, attention_mask, *past_flat):  # noqa: ANN001
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.num_layers)]
        cache = _NewEntriesCache(past)
        out = self.model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=self._masks(attention_mask, position_ids),
            past_key_values=cache,
            use_cache=True,
            output_hidden_states=True,
            return_dict=True,
        )
        results = [out.logits.float()]
        for i in range(self.num_layers):
            key, value = cache.new_entries[i]
            results += [key, value]
        results.append(out.hidden_states[-1])
        if self.early_layer is not None:
            results.append(out.hidden_states[self.early_layer])
        return tuple(results)

    def _masks(self, mask: torch.Tensor, position_ids: torch.Tensor):  # noqa: ANN202
        """The full mask, plus a sliding-window one where the architecture has such layers.

        Key slot j of the past holds position j (the runtime keeps the cache compacted), and the
        new tokens sit at their position_ids, so the window is computable inside the graph.
        """
        window = self.arch.sliding_window(self.model.config)
        if window is None:
            return mask
        past_len = mask.shape[-1] - position_ids.shape[-1]
        key_pos = torch.cat([torch.arange(past_len, dtype=position_ids.dtype).unsqueeze(0), position_ids], dim=-1)
        too_far = (position_ids[:, :, None] - key_pos[:, None, :]) >= window
        sliding = torch.where(too_far[:, None, :, :], torch.full_like(mask, MASK_MIN), mask)
        if self.arch.mask_mapping:
            return {"full_attention": mask, "sliding_attention": sliding}
        return sliding


@contextlib.contextmanager
def gqa_kept_in_sdpa() -> Iterator[None]:
    """Keep grouped-query attention inside SDPA while tracing.

    transformers repeats K/V heads whenever a mask is passed (a CUDA kernel limitation); traced,
    that becomes explicit Broadcast/Transpose copies that cost a third of a decode step on CPU.
    """
    original = sdpa_attention.use_gqa_in_sdpa
    sdpa_attention.use_gqa_in_sdpa = lambda attention_mask, key: True
    try:
        yield
    finally:
        sdpa_attention.use_gqa_in_sdpa = original


def example_inputs(config, past_len: int = 3, new_len: int = 2) -> tuple[torch.Tensor, ...]:  # noqa: ANN001
    """Small inputs for tracing: a causal block after a short past (shapes stay dynamic)."""
    from edge_spec.export.architectures import kv_shape

    heads, head_dim = kv_shape(config)
    total = past_len + new_len
    input_ids = torch.randint(0, min(config.vocab_size, 100), (1, new_len))
    position_ids = torch.arange(past_len, total).unsqueeze(0)
    mask = torch.full((1, 1, new_len, total), MASK_MIN)
    for i in range(new_len):
        mask[0, 0, i, : past_len + i + 1] = 0.0
    past = []
    for _ in range(config.num_hidden_layers):
        past += [torch.randn(1, heads, past_len, head_dim), torch.randn(1, heads, past_len, head_dim)]
    return (input_ids, position_ids, mask, *past)
