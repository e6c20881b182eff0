"""The target's graph in the spec layout: one forward over a tree of new tokens.

The wrapper turns a Hugging Face causal LM into a pure function
``(input_ids, position_ids, mask, past K/V...) -> (logits, new K/V..., hidden states...)``
so that the runtime, not the graph, owns the KV cache. A 4D additive mask is what lets one pass
verify a whole candidate tree: the engine decides who sees whom, the graph only obeys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from edge_spec.export.architectures import ArchSpec

MASK_MIN = torch.finfo(torch.float32).min


@dataclass(frozen=True)
class GraphIO:
    """Input and output names of the spec-layout graph, shared by exporters and runtimes.

    kv_output "new": past K/V are inputs and only the T new entries are outputs (ONNX; the
    runtime owns the buffers). "present": the concatenated K/V are outputs, which OpenVINO's
    MakeStateful turns into plugin-held state (past inputs and present outputs disappear).
    sliding: the graph also takes a sliding-window mask for the model's local-attention layers.
    """

    num_layers: int
    hidden_outputs: tuple[str, ...]
    sliding: bool = False
    kv_output: str = "new"

    @property
    def inputs(self) -> list[str]:
        names = ["input_ids", "position_ids", "logit_rows", "attention_mask"]
        if self.sliding:
            names.append("sliding_attention_mask")
        for i in range(self.num_layers):
            names += [f"past_key.{i}", f"past_value.{i}"]
        return names

    @property
    def outputs(self) -> list[str]:
        names = ["logits"]
        kind = "new" if self.kv_output == "new" else "present"
        for i in range(self.num_layers):
            names += [f"{kind}_key.{i}", f"{kind}_value.{i}"]
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
    """Wraps a causal LM so that tracing it yields the spec-layout graph.

    Masks come from the runtime, which alone knows which cache slot holds which position
    (a stateful cache keeps rejected drafts as masked garbage until it compacts).
    """

    def __init__(self, model: torch.nn.Module, arch: ArchSpec, early_layer: int | None, kv_output: str = "new"):
        super().__init__()
        self.model = model
        self.arch = arch
        self.num_layers = model.config.num_hidden_layers
        self.early_layer = early_layer
        self.kv_output = kv_output
        self.window = arch.sliding_window(model.config)

    @property
    def io(self) -> GraphIO:
        hidden = ("hidden_final",) + (("hidden_early",) if self.early_layer is not None else ())
        return GraphIO(self.num_layers, hidden, sliding=self.two_masks, kv_output=self.kv_output)

    @property
    def two_masks(self) -> bool:
        """Models mixing full and sliding layers take two masks; all-sliding ones get the
        windowed mask as their only one (the runtime applies the window either way)."""
        return self.window is not None and self.arch.mask_mapping

    def forward(self, input_ids, position_ids, logit_rows, attention_mask, *rest):  # noqa: ANN001
        """logit_rows: which of the T rows need logits (prefill needs only its last row, and a
        49152-token LM head over a 700-token prompt costs more than the rest of the pass)."""
        if self.two_masks:
            masks = {"full_attention": attention_mask, "sliding_attention": rest[0]}
            past_flat = rest[1:]
        else:
            masks, past_flat = attention_mask, rest
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.num_layers)]
        cache = _NewEntriesCache(past)
        out = self.model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=masks,
            past_key_values=cache,
            use_cache=True,
            output_hidden_states=True,
            return_dict=True,
            logits_to_keep=logit_rows,
        )
        results = [out.logits.float()]
        for i in range(self.num_layers):
            if self.kv_output == "new":
                results += list(cache.new_entries[i])
            else:
                results += [cache.layers[i].keys, cache.layers[i].values]
        results.append(out.hidden_states[-1])
        if self.early_layer is not None:
            results.append(out.hidden_states[self.early_layer])
        return tuple(results)


def example_inputs(wrapper: SpecLayoutModule, past_len: int = 3, new_len: int = 2) -> tuple[torch.Tensor, ...]:
    """Small inputs for tracing: a causal block after a short past (shapes stay dynamic)."""
    from edge_spec.export.architectures import kv_shape

    config = wrapper.model.config
    heads, head_dim = kv_shape(config)
    total = past_len + new_len
    input_ids = torch.randint(0, min(config.vocab_size, 100), (1, new_len))
    position_ids = torch.arange(past_len, total).unsqueeze(0)
    logit_rows = torch.arange(new_len)
    mask = torch.full((1, 1, new_len, total), MASK_MIN)
    for i in range(new_len):
        mask[0, 0, i, : past_len + i + 1] = 0.0
    masks = (mask, mask.clone()) if wrapper.two_masks else (mask,)
    past = []
    for _ in range(config.num_hidden_layers):
        past += [torch.randn(1, heads, past_len, head_dim), torch.randn(1, heads, past_len, head_dim)]
    return (input_ids, position_ids, logit_rows, *masks, *past)
