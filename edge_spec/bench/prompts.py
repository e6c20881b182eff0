"""Benchmark prompt files: Spec-Bench, HumanEval and edge-spec's own rows, told apart by their keys.

One JSON object per line (a gzip file is read through gzip, recognised by its magic bytes, so a
`.jsonl.gz` that was unpacked but kept its name still works):

* Spec-Bench's question.jsonl ``{"question_id", "category", "turns": [...]}``: the first turn is the
  prompt and goes through the model's chat template, as Spec-Bench does.
* HumanEval ``{"task_id", "prompt", ...}``: the raw prompt (a function to complete), category
  "humaneval".
* edge-spec rows ``{"question_id", "category", "prompt"}``: raw text.

The format is decided by the first row and every row must then fit it, so a file that mixes
formats fails with the line that breaks the pattern instead of benchmarking half of it.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_spec.errors import EdgeSpecError

OVERALL = "all"  # the category name of the overall summary rows, so no file may use it
GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("spec-bench", "humaneval", "edge-spec")
_EXPECTED = (
    'expected JSON lines in one of: Spec-Bench {"question_id", "category", "turns"}, '
    'HumanEval {"task_id", "prompt"}, edge-spec {"question_id", "category", "prompt"}'
)


@dataclass(frozen=True)
class BenchPrompt:
    """One benchmark prompt. chat=True: send it as a user message through the chat template."""

    prompt_id: str
    category: str
    text: str
    chat: bool = False

    def as_input(self) -> str | list[dict[str, str]]:
        """What Pipeline.encode takes for this prompt (a message list for chat prompts)."""
        return [{"role": "user", "content": self.text}] if self.chat else self.text


def detect_format(row: dict[str, Any]) -> str | None:
    """The format a row belongs to (one of FORMATS), or None when its keys fit none."""
    if "turns" in row:
        return "spec-bench"
    if "task_id" in row and "prompt" in row:
        return "humaneval"
    if "prompt" in row:
        return "edge-spec"
    return None


def load_prompts(path: str | Path, limit: int | None = None) -> list[BenchPrompt]:
    """Read a prompt file; keep the first LIMIT prompts of each category (None: all), file order.

    Raises EdgeSpecError with one line naming the file, what is wrong and what to do.
    """
    path = Path(path).expanduser()
    if limit is not None and limit <= 0:
        raise EdgeSpecError(f"--limit must be a positive number of prompts per category, got {limit}")
    rows = _read_rows(path)
    if not rows:
        raise EdgeSpecError(f"{path}: holds no prompts; give a JSON-lines file with one prompt per line")
    fmt = detect_format(rows[0][1])
    if fmt is None:
        line, row = rows[0]
        raise EdgeSpecError(f"{path}: line {line}: unknown prompt format (keys {sorted(row)}); {_EXPECTED}")
    prompts = [_parse_row(path, line, row, fmt) for line, row in rows]
    if limit is None:
        return prompts
    kept: Counter[str] = Counter()
    chosen = []
    for prompt in prompts:
        if kept[prompt.category] < limit:
            kept[prompt.category] += 1
            chosen.append(prompt)
    return chosen


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise EdgeSpecError(f"{path}: no such file; give a prompt file (Spec-Bench, HumanEval or edge-spec JSON lines)")
    if path.is_dir():
        raise EdgeSpecError(f"{path}: is a directory; give a prompt file (JSON lines, optionally .gz)")
    data = path.read_bytes()
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise EdgeSpecError(f"{path}: a damaged gzip file ({exc}); download it again") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeSpecError(f"{path}: not UTF-8 text (byte {exc.start}); give a JSON-lines prompt file") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise EdgeSpecError(f"{path}: line {number} is not JSON; {_EXPECTED}") from None
        if not isinstance(row, dict):
            raise EdgeSpecError(f"{path}: line {number} is not a JSON object; {_EXPECTED}")
        rows.append((number, row))
    return rows


def _parse_row(path: Path, line: int, row: dict[str, Any], fmt: str) -> BenchPrompt:
    def bad(what: str) -> EdgeSpecError:
        return EdgeSpecError(f"{path}: line {line}: {what} (the file's first row is {fmt} format); fix the row")

    if detect_format(row) != fmt:
        raise bad(f"keys {sorted(row)} do not fit")
    if fmt == "spec-bench":
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], str) or not turns[0]:
            raise bad('"turns" must be a non-empty list of strings')
        prompt_id, category, text, chat = row.get("question_id", line), row.get("category"), turns[0], True
    elif fmt == "humaneval":
        prompt_id, category, text, chat = row["task_id"], "humaneval", row["prompt"], False
    else:
        prompt_id, category, text, chat = row.get("question_id", line), row.get("category"), row["prompt"], False
    if not isinstance(text, str) or not text:
        raise bad("the prompt is empty or not a string")
    category = str(category) if category not in (None, "") else "default"
    if category == OVERALL:
        raise bad(f'category "{OVERALL}" is reserved for the overall rows; rename it')
    return BenchPrompt(prompt_id=str(prompt_id), category=category, text=text, chat=chat)
