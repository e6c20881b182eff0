"""The target model directory: checked up front (one-line errors), loaded from safetensors only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_spec.errors import EdgeSpecError
from edge_spec.hf_model_dir import check_safetensors_weights, read_causal_lm_config

log = logging.getLogger(__name__)


@dataclass
class TargetInfo:
    """A checked target directory."""

    path: Path
    config: Any  # transformers PretrainedConfig
    tokenizer_json: Path

    @property
    def model_type(self) -> str:
        return self.config.model_type


def check_target(path: str | Path) -> TargetInfo:
    """Validate the target directory or raise EdgeSpecError with one line saying what is wrong."""
    path = Path(path).expanduser().absolute()
    read_causal_lm_config(path, remote_code_refusal="training never runs a model's own code")
    if not (path / "tokenizer.json").is_file():
        raise EdgeSpecError(f"{path}: no tokenizer.json (a fast tokenizer is needed; the draft shares it)")
    check_safetensors_weights(path)
    config_file = path / "config.json"
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise EdgeSpecError(f"{config_file}: transformers cannot read it ({str(exc).splitlines()[0]})") from None
    for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        if not isinstance(getattr(config, name, None), int):
            raise EdgeSpecError(f"{config_file}: no {name}; not a decoder-only LM training knows how to shrink")
    return TargetInfo(path=path, config=config, tokenizer_json=path / "tokenizer.json")


def load_target_model(target: TargetInfo) -> Any:
    """The target in f32, eval mode, from safetensors (never pickle, never remote code)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            target.path, dtype=torch.float32, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError) as exc:
        raise EdgeSpecError(f"{target.path}: the model cannot be loaded ({str(exc).splitlines()[0]})") from None
    return model.eval()


def load_tokenizer(target: TargetInfo) -> Any:
    """The target's transformers tokenizer (for the chat template, encoding and decoding)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(target.path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise EdgeSpecError(f"{target.path}: its tokenizer cannot be loaded ({str(exc).splitlines()[0]})") from None


def eos_and_pad_ids(target: TargetInfo) -> dict[str, Any]:
    """EOS ids (generation config first) and the padding id of the target."""
    config = target.config
    eos: list[int] = []
    try:
        from transformers import GenerationConfig

        generation = GenerationConfig.from_pretrained(target.path)
        value = generation.eos_token_id
    except OSError:
        value = None
    for candidate in (value, config.eos_token_id):
        if candidate is None:
            continue
        eos.extend(candidate if isinstance(candidate, list) else [candidate])
    eos = list(dict.fromkeys(int(i) for i in eos))
    pad = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    return {"eos": eos, "pad": int(pad)}
