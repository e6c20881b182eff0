"""`train chat-corpus`: the target's own conversations as text, resumable, ready for `ngram build`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_spec.drafters.ngram_build import build_static_db
from edge_spec.drafters.ngram_static import StaticNgramDB
from edge_spec.train.cli import train_app
from tests.train.test_train_cli import error_line

SMALL = ["--conversations", "3", "--batch", "2", "--answer-tokens", "6", "--threads", "1"]


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(train_app, ["chat-corpus", *args])


@pytest.fixture(scope="module")
def talkative_target(tiny_target: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny target with weights drawn wider: at init scale its greedy answers are all newlines,
    which strip to nothing and are (rightly) not written."""
    import torch
    from transformers import AutoModelForCausalLM

    target = tmp_path_factory.mktemp("talkative") / "target"
    shutil.copytree(tiny_target, target)
    model = AutoModelForCausalLM.from_pretrained(target)
    torch.manual_seed(1)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() > 1:
                weight.normal_(0.0, 0.5)
    model.save_pretrained(target)
    return target


def test_writes_conversations_resumes_and_builds_a_db(talkative_target: Path, tmp_path: Path) -> None:
    out = tmp_path / "chat"
    result = invoke("--target", str(talkative_target), "-o", str(out), *SMALL)
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("chat-*.txt"))
    assert [f.name for f in files] == ["chat-s0-b2-00000.txt", "chat-s0-b2-00001.txt"]  # 3 conversations, 2 a batch
    first = files[0].read_text()
    # after the template's system prompt: the user turn, then the assistant's greedy answer
    assert first.startswith("<|im_start|>user\n") and "<|im_start|>assistant\n" in first
    assert "<|im_start|>system" not in first
    assert first.count("<|im_start|>user\n") == 2 and files[1].read_text().count("<|im_start|>user\n") == 1

    # a stopped run continues: the missing file is written again, the same as before (seeded)
    files[0].unlink()
    result = invoke("--target", str(talkative_target), "-o", str(out), *SMALL)
    assert result.exit_code == 0, result.output
    assert "(1 written now" in " ".join(result.output.split()) and files[0].read_text() == first

    db = tmp_path / "chat.esng"
    build_static_db(talkative_target, [out], db, min_count=1)
    with StaticNgramDB.open(db) as table:
        assert len(table) > 0
        assert table.header.corpus_tokens > 0


def test_bad_input_exits_2(tiny_target: Path, tmp_path: Path) -> None:
    plain = tmp_path / "no-template"
    shutil.copytree(tiny_target, plain)
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    for template in plain.glob("chat_template.*"):
        template.unlink()
    out = tmp_path / "chat"
    assert "no usable chat template" in error_line(invoke("--target", str(plain), "-o", str(out), *SMALL))
    assert not out.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "is not a folder" in error_line(invoke("--target", str(tiny_target), "-o", str(a_file), *SMALL))
    line = error_line(invoke("--target", str(tiny_target), "-o", str(out), "--conversations", "0"))
    assert "must be at least 1" in line
    assert "no such file or directory" in error_line(invoke("--target", str(tmp_path / "nope"), "-o", str(out)))
