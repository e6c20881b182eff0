"""Small drafter artefacts shipped inside the package, for the demo model (SmolLM2-135M-Instruct).

`smollm2_fastdraft/` is a draft for SmolLM2-135M-Instruct trained and aligned by
`edge-spec train fastdraft` (its recipe.json and fastdraft_report.json say how, on what machine,
and how well it does); the demo pull exports it next to the target. Absent from a checkout that
has not trained it yet, in which case the demo runs with the n-gram tiers alone.

`smollm2_chat/chat.txt.gz` is chat text the same model wrote itself (`edge-spec train
chat-corpus`: questions it samples from its own chat template, answers it gives greedily; its
recipe.json says how). The demo counts it into its n-gram DB next to the Python standard
library: what a model has said before is what it tends to say again (Hierarchy Drafting's model
tier, built offline), and a code corpus has little to offer a chat answer.
"""

from __future__ import annotations

from pathlib import Path

SMOLLM2_FASTDRAFT = Path(__file__).parent / "smollm2_fastdraft"
SMOLLM2_CHAT_CORPUS = Path(__file__).parent / "smollm2_chat" / "chat.txt.gz"


def shipped_draft(directory: Path = SMOLLM2_FASTDRAFT) -> Path | None:
    """DIRECTORY when it holds a complete draft model (config, weights, tokenizer), else None."""
    needed = ("config.json", "model.safetensors", "tokenizer.json")
    return directory if all((directory / name).is_file() for name in needed) else None


def shipped_chat_corpus(path: Path = SMOLLM2_CHAT_CORPUS) -> Path | None:
    """PATH when the demo model's own chat text is there, else None."""
    return path if path.is_file() else None
