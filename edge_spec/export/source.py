"""Finding and checking the model to export, before any heavy work starts.

Every refusal here is one line naming the path and what to do, because a user who typed the
wrong directory should not wait for torch to load to find out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_spec.errors import ExportError
from edge_spec.export.architectures import SUPPORTED, ArchSpec, supported_list
from edge_spec.hf_model_dir import check_safetensors_weights, read_causal_lm_config

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
    raw = read_causal_lm_config(
        path, ExportError, trust_remote_code, "read it, then pass --trust-remote-code to allow running it"
    )
    model_type = raw.get("model_type")
    if model_type not in SUPPORTED:
        raise ExportError(f"{path}: architecture '{model_type}' is not supported; supported: {supported_list()}")
    check_safetensors_weights(path, ExportError)

    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{path / 'config.json'}: transformers cannot read it ({str(exc).splitlines()[0]})") from None
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

    from edge_spec.export.quiet_libraries import quiet_transformers

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
