"""Tiny random-init models of every supported architecture, with the bench's real tokenizer.

Random weights make acceptance rates meaningless but are perfect for exactness: any numeric
slip shows up as a different argmax. Sliding windows are set small so prompts cross them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SHARED = Path(os.environ.get("EDGE_SPEC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TOKENIZER_DIR = SHARED / "bench" / "tokenizer"
if not (TOKENIZER_DIR / "tokenizer.json").is_file():
    raise RuntimeError(f"{TOKENIZER_DIR}: the bench tokenizer is missing; set EDGE_SPEC_SHARED to the shared/ folder")
VOCAB = 49152
COMMON = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=2)
SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2)


def _configs() -> dict:
    from transformers import (
        Gemma2Config,
        Gemma3TextConfig,
        GPT2Config,
        LlamaConfig,
        MistralConfig,
        Phi3Config,
        Qwen2Config,
        Qwen3Config,
    )

    gemma = dict(
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        max_position_embeddings=512,
    )
    return {
        "llama": LlamaConfig(**SMALL, **COMMON, max_position_embeddings=512, tie_word_embeddings=True),
        "mistral": MistralConfig(**SMALL, **COMMON, max_position_embeddings=512, sliding_window=8),
        "qwen2": Qwen2Config(**SMALL, **COMMON, max_position_embeddings=512),
        "qwen3": Qwen3Config(**SMALL, **COMMON, head_dim=16, max_position_embeddings=512),
        "phi3": Phi3Config(**SMALL, **COMMON, max_position_embeddings=512, original_max_position_embeddings=512),
        "gemma2": Gemma2Config(**SMALL, **COMMON, **gemma),
        "gemma3_text": Gemma3TextConfig(**SMALL, **COMMON, **gemma),
        "gpt2": GPT2Config(n_embd=64, n_layer=3, n_head=4, n_positions=512, **COMMON),
    }


ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text", "gpt2")


def make_model_dir(arch: str, directory: Path, seed: int = 0) -> Path:
    """Save a random-init model of ARCH with the bench tokenizer into DIRECTORY."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    config = _configs()[arch]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # Random init gives near-uniform logits; a larger spread keeps argmax margins clear of
    # float noise, the way a trained model's are.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2 and "norm" not in name:
                param.mul_(4.0 if "embed" in name or "wte" in name or "wpe" in name else 2.0)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    for f in TOKENIZER_DIR.iterdir():
        shutil.copy(f, directory / f.name)
    return directory


def load_torch(directory: Path):  # noqa: ANN201
    import torch
    from transformers import AutoModelForCausalLM

    from edge_spec.export.architectures import SUPPORTED

    config_type = __import__("json").loads((directory / "config.json").read_text())["model_type"]
    return AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32, attn_implementation=SUPPORTED[config_type].attn_implementation
    ).eval()
