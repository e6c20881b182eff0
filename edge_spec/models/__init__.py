"""Small drafter artefacts shipped inside the package: the demo model's FastDraft draft.

`smollm2_fastdraft/` is a draft for SmolLM2-135M-Instruct trained and aligned by
`edge-spec train fastdraft` (its recipe.json and fastdraft_report.json say how, on what machine,
and how well it does); the demo pull exports it next to the target. Absent from a checkout that
has not trained it yet, in which case the demo runs with the n-gram tiers alone.
"""

from __future__ import annotations

from pathlib import Path

SMOLLM2_FASTDRAFT = Path(__file__).parent / "smollm2_fastdraft"


def shipped_draft(directory: Path = SMOLLM2_FASTDRAFT) -> Path | None:
    """DIRECTORY when it holds a complete draft model (config, weights, tokenizer), else None."""
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    return directory if all((directory / name).is_file() for name in needed) else None
