"""The target model directory: checked up front (one-line errors), loaded from safetensors only."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_spec.errors import EdgeSpecError

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
    if not path.exists():
        raise EdgeSpecError(f"{path}: no such directory; give the target's Hugging Face model directory")
    if not path.is_dir():
        raise EdgeSpecError(f"{path}: is a file, not a model directory (expected config.json inside)")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise EdgeSpecError(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgeSpecError(f"{config_file}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise EdgeSpecError(f"{config_file}: expected a JSON object")
    if raw.get("auto_map"):
        raise EdgeSpecError(f"{path}: this model needs its own Python code (auto_map), which training never runs")
    architectures = raw.get("architectures") or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise EdgeSpecError(f"{path}: {', '.join(architectures)} is not a causal language model")
    if not (path / "tokenizer.json").is_file():
        raise EdgeSpecError(f"{path}: no tokenizer.json (a fast tokenizer is needed; the draft shares it)")
    if not any(path.glob("*.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise EdgeSpecError(
                f"{path}: weights are pickled (*.bin/*.pt), which edge-spec never loads; use safetensors"
            )
        raise EdgeSpecError(f"{path}: no weights found (*.safetensors)")
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
