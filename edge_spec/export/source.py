"""Finding and checking the model to export, before any heavy work starts.

Every refusal here is one line naming the path and what to do, because a user who typed the
wrong directory should not wait for torch to load to find out.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_spec.errors import ExportError
from edge_spec.export.architectures import SUPPORTED, ArchSpec, supported_list

log = logging.getLogger(__name__)


@dataclass
class SourceModel:
    """A checked model directory with its config and architecture entry."""

    path: Path
    config: Any
    arch: ArchSpec
    original: Path | None = None  # what the user named, when not the directory itself (a GGUF file)


def check_model_dir(model: str | Path, trust_remote_code: bool = False) -> SourceModel:
    """Validate MODEL and return its config, or raise ExportError with one clear line."""
    path = Path(model).expanduser()
    if not path.exists() and _looks_like_hub_id(str(model)):
        path = _download_from_hub(str(model))
    if not path.exists():
        raise ExportError(f"{path}: no such file or directory; give a Hugging Face model directory")
    if not path.is_dir():
        raise ExportError(f"{path}: is a file, not a model directory (expected config.json inside)")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ExportError(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{config_file}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ExportError(f"{config_file}: expected a JSON object")
    if raw.get("auto_map") and not trust_remote_code:
        raise ExportError(
            f"{path}: this model needs its own Python code (auto_map in config.json); "
            "read it, then pass --trust-remote-code to allow running it"
        )
    model_type = raw.get("model_type")
    architectures = raw.get("architectures") or []
    if architectures and not any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in architectures):
        raise ExportError(
            f"{path}: {', '.join(architectures)} is not a causal language model; "
            "edge-spec exports decoder-only LMs (…ForCausalLM)"
        )
    if model_type not in SUPPORTED:
        raise ExportError(f"{path}: architecture '{model_type}' is not supported; supported: {supported_list()}")
    if not any(path.glob("*.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise ExportError(
                f"{path}: weights are pickled (*.bin/*.pt), which edge-spec never loads; "
                "save the model with safetensors (model.save_pretrained(dir))"
            )
        raise ExportError(f"{path}: no weights found (*.safetensors)")

    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{config_file}: transformers cannot read it ({exc})") from None
    return SourceModel(path=path, config=config, arch=SUPPORTED[model_type])


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~")) and " " not in name


def _download_from_hub(repo_id: str) -> Path:
    """Fetch a hub model's config, tokenizer and safetensors weights (only when online)."""
    try:
        from huggingface_hub import snapshot_download

        log.info("%s is not a local directory: downloading it from the Hugging Face hub", repo_id)
        local = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"])
    except Exception as exc:  # offline, unknown repo, gated model: one line either way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"{repo_id}: not a local directory, and the Hugging Face hub could not provide it ({first})"
        ) from None
    return Path(local)


def load_torch_model(source: SourceModel, trust_remote_code: bool = False):  # noqa: ANN201
    """The fp32 PyTorch model in eval mode, with the attention the wrapper needs."""
    import torch
    from transformers import AutoModelForCausalLM

    from edge_spec.export.gguf_source import quiet_transformers

    try:
        with quiet_transformers():  # its loading bars and notices would cut into our progress display
            model = AutoModelForCausalLM.from_pretrained(
                source.path,
                dtype=torch.float32,
                attn_implementation=source.arch.attn_implementation,
                trust_remote_code=trust_remote_code,
                use_safetensors=True,
            )
    except Exception as exc:  # safetensors, torch and transformers each raise their own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{source.path}: the weights cannot be loaded ({first})") from None
    model.eval()
    return model
