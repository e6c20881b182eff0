"""A tiny random Llama target with the bench's real tokenizer, a tiny corpus, and a small FastDraft config."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

from edge_spec.drafters.ngram_build import is_heldout

SHARED = Path(os.environ.get("EDGE_SPEC_SHARED", Path(__file__).resolve().parents[3] / "shared"))
TOKENIZER_DIR = SHARED / "bench" / "tokenizer"


def make_tiny_target(directory: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=49152,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    for f in TOKENIZER_DIR.iterdir():
        shutil.copy(f, directory / f.name)
    return directory


def heldout_text() -> str:
    """A Python file whose content the sha1 rule holds out."""
    n = 0
    while True:
        text = f"def held_out_function_{n}(value):\n    return value * {n} + 17  # held out\n"
        if is_heldout(text.encode()):
            return text
        n += 1


def make_corpus(directory: Path) -> Path:
    stdlib_json = Path(sysconfig.get_paths()["stdlib"]) / "json"
    (directory / "pkg").mkdir(parents=True)
    for name in ("decoder.py", "encoder.py", "scanner.py"):
        text = (stdlib_json / name).read_text(encoding="utf-8")
        if not is_heldout(text.encode()):
            (directory / "pkg" / name).write_text(text, encoding="utf-8")
    notes = "".join(f"Note {i}: the quick brown fox jumps over the lazy dog, {i} times.\n" for i in range(60))
    (directory / "notes.txt").write_text(notes, encoding="utf-8")
    (directory / "pkg" / "copy_of_notes.txt").write_text(notes, encoding="utf-8")  # a duplicate
    (directory / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (directory / "heldout.py").write_text(heldout_text(), encoding="utf-8")
    return directory


def small_config(target: Path, corpus: Path, output: Path, **overrides):  # noqa: ANN201
    from edge_spec.train import FastDraftConfig, GenerationSettings

    options = dict(
        target=target,
        output=output,
        corpus=[corpus],
        layers=1,
        hidden=32,
        pretrain_tokens=8 * 2 * 32,  # 8 steps
        align_samples=8,
        align_epochs=2.0,
        seq_len=32,
        batch=2,
        eval_code_samples=4,
        eval_chat_samples=2,
        generation=GenerationSettings(
            batch=4, prompt_tokens=(8, 16), continuation_tokens=12, question_tokens=8, answer_tokens=10
        ),
        threads=1,
        head_vocab=512,  # the draft's own vocabulary (0: the target's 49152 tokens)
    )
    options.update(overrides)
    return FastDraftConfig(**options)
