"""The checks every Hugging Face model directory gets before anything heavy loads it.

Export and drafter training both take a user's model directory; both refuse the same mistakes
with the same one line (which file, what is wrong, what to do) before torch is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_spec.errors import EdgeSpecError


def read_causal_lm_config(
    path: Path,
    error: type[EdgeSpecError] = EdgeSpecError,
    trust_remote_code: bool = False,
    remote_code_refusal: str = "pass --trust-remote-code to allow running it",
) -> dict:
    """config.json of a causal LM directory as a dict, or ERROR with one line.

    remote_code_refusal: what to tell the user when the model needs its own code (auto_map)
    and trust_remote_code is off.
    """
    if not path.exists():
        raise error(f"{path}: no such file or directory; give a Hugging Face model directory")
    if not path.is_dir():
        raise error(f"{path}: is a file, not a model directory (expected config.json inside)")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise error(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{config_file}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise error(f"{config_file}: expected a JSON object")
    if raw.get("auto_map") and not trust_remote_code:
        raise error(f"{path}: this model needs its own Python code (auto_map in config.json); {remote_code_refusal}")
    architectures = raw.get("architectures") or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise error(
            f"{path}: {', '.join(architectures)} is not a causal language model; "
            "edge-spec takes decoder-only LMs (…ForCausalLM)"
        )
    return raw


def check_safetensors_weights(path: Path, error: type[EdgeSpecError] = EdgeSpecError) -> None:
    """Refuse a directory whose weights are missing or pickled (edge-spec never unpickles)."""
    if any(path.glob("*.safetensors")):
        return
    if any(path.glob("*.bin")) or any(path.glob("*.pt")):
        raise error(
            f"{path}: weights are pickled (*.bin/*.pt), which edge-spec never loads; "
            "save the model with safetensors (model.save_pretrained(dir))"
        )
    raise error(f"{path}: no weights found (*.safetensors)")
