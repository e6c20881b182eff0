"""Prompt files: the three formats told apart by their keys, --limit per category, bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from tiny_models import SHARED

from edge_spec.bench.prompts import detect_format, load_prompts
from edge_spec.errors import EdgeSpecError

SHARED_BENCH = SHARED / "bench"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def test_detect_format() -> None:
    assert detect_format({"question_id": 81, "category": "writing", "turns": ["a", "b"]}) == "spec-bench"
    assert detect_format({"task_id": "HumanEval/0", "prompt": "def f():", "entry_point": "f"}) == "humaneval"
    assert detect_format({"question_id": "c-1", "category": "continue", "prompt": "import os"}) == "edge-spec"
    assert detect_format({"id": 1, "text": "hello"}) is None


def test_spec_bench_first_turn_through_the_chat_template(tmp_path: Path) -> None:
    rows = [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
        {"question_id": 82, "category": "writing", "turns": ["Write a letter."]},
        {"question_id": 91, "category": "qa", "turns": ["Who wrote Hamlet?"]},
    ]
    prompts = load_prompts(write_jsonl(tmp_path / "question.jsonl", rows))
    assert [(p.prompt_id, p.category, p.text, p.chat) for p in prompts] == [
        ("81", "writing", "Write a poem.", True),
        ("82", "writing", "Write a letter.", True),
        ("91", "qa", "Who wrote Hamlet?", True),
    ]
    assert prompts[0].as_input() == [{"role": "user", "content": "Write a poem."}]
    limited = load_prompts(tmp_path / "question.jsonl", limit=1)  # per category
    assert [p.prompt_id for p in limited] == ["81", "91"]


def test_humaneval_gzip_is_raw_text(tmp_path: Path) -> None:
    rows = [{"task_id": f"HumanEval/{i}", "prompt": f"def f{i}():\n", "entry_point": f"f{i}"} for i in range(3)]
    prompts = load_prompts(write_jsonl(tmp_path / "HumanEval.jsonl.gz", rows), limit=2)
    assert [(p.prompt_id, p.category, p.chat) for p in prompts] == [
        ("HumanEval/0", "humaneval", False),
        ("HumanEval/1", "humaneval", False),
    ]
    assert prompts[1].as_input() == "def f1():\n"


def test_edge_spec_rows(tmp_path: Path) -> None:
    rows = [{"question_id": "c-0", "category": "continue", "prompt": "import os\n", "reference": "x"}]
    (prompt,) = load_prompts(write_jsonl(tmp_path / "code.jsonl", rows))
    assert (prompt.prompt_id, prompt.category, prompt.text, prompt.chat) == ("c-0", "continue", "import os\n", False)


@pytest.mark.skipif(not (SHARED_BENCH / "spec_bench_question.jsonl").is_file(), reason="shared bench files absent")
def test_the_shared_bench_files() -> None:
    spec = load_prompts(SHARED_BENCH / "spec_bench_question.jsonl", limit=3)
    categories = {p.category for p in spec}
    assert len(categories) == 13 and len(spec) == 3 * 13
    assert len(load_prompts(SHARED_BENCH / "HumanEval.jsonl.gz")) == 164
    assert {p.category for p in load_prompts(SHARED_BENCH / "prompts" / "code.jsonl")} == {"function", "continue"}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"id": 1, "text": "hello"}\n', "unknown prompt format"),
        (b"", "holds no prompts"),
        (b"\n\n", "holds no prompts"),
        (b"not json\n", "line 1 is not JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"question_id": 1, "category": "a", "prompt": "x"}\n{"task_id": "t", "prompt": "y"}\n', "line 2"),
        (b'{"question_id": 1, "category": "a", "turns": []}\n', "non-empty list"),
        (b'{"question_id": 1, "category": "all", "prompt": "x"}\n', "reserved"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(content)
    with pytest.raises(EdgeSpecError, match=needle) as info:
        load_prompts(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EdgeSpecError, match="no such file"):
        load_prompts(tmp_path / "nope.jsonl")
