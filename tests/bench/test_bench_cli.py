"""`edge-spec bench` end to end in a real process: every prompt format, every drafter, --exact.

A tiny random model makes the speed figures meaningless, but not the report's shape nor the
audit: in exact mode every drafter must reproduce plain decoding token for token.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from cli_process import run_cli

from edge_spec.drafters import DRAFTERS

FORMATS = {
    "spec-bench": (
        "question.jsonl",
        [
            {"question_id": 81, "category": "writing", "turns": ["Write a haiku about rain.", "Again."]},
            {"question_id": 101, "category": "reasoning", "turns": ["Which is heavier, a kilo of lead or iron?"]},
        ],
        ["writing", "reasoning"],
    ),
    "humaneval": (
        "HumanEval.jsonl.gz",
        [
            {"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    ", "entry_point": "add"},
            {"task_id": "HumanEval/1", "prompt": "def is_even(n):\n    ", "entry_point": "is_even"},
        ],
        ["humaneval"],
    ),
    "edge-spec": (
        "code.jsonl",
        [
            {"question_id": "c-0", "category": "continue", "prompt": "import os\nimport sys\n"},
            {"question_id": "c-1", "category": "continue", "prompt": "for i in range(10):\n    print(i)\n"},
        ],
        ["continue"],
    ),
}
# Every drafter runs on the chat-template format; the raw formats differ from it only in how the
# prompt is read, so plain decoding and the n-gram drafter show they come through (the draft
# model on raw prompts: tests/drafters/test_draft_model.py). Each drafter costs a CI run ~10 s.
MODES = {"spec-bench": list(DRAFTERS), "humaneval": ["none", "ngram"], "edge-spec": ["none", "ngram"]}
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
SUMMARY_KEYS = {
    "mode": str,
    "category": str,
    "prompts": int,
    "tokens_per_s": float,
    "decode_tokens_per_s": float,
    "speedup": float,
    "tau": float,
    "accepted_per_depth": list,
    "ttft_s": float,
    "tpot_s": float,
    "identical": int,
    "near_ties": int,
    "mismatches": int,
    "peak_rss_mib": float,
    "steal": float,
}


def write_prompts(path: Path, rows: list[dict]) -> Path:
    import gzip

    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture(scope="module")
def runs(zoo, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: ANN001
    """One `edge-spec bench` per prompt format (the edge-spec one also draws the plot)."""
    bundle = zoo.bundle_with_draft("llama")  # every drafter, the draft model included
    out = {}
    for fmt, (name, rows, categories) in FORMATS.items():
        work = tmp_path_factory.mktemp(f"bench-{fmt}")
        prompts = write_prompts(work / name, rows)
        args = ["bench", str(bundle), "--prompts", str(prompts), "--drafter", ",".join(MODES[fmt])]
        args += ["--exact", "--max-new-tokens", "8", "--json", str(work / "report.json")]
        args += ["--max-steal", "1"]  # a noisy CI VM must not re-run generations (tests/bench/test_steal.py)
        plot = work / "report.png" if fmt == "edge-spec" and HAS_MATPLOTLIB else None
        if plot is not None:
            args += ["--plot", str(plot)]
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr.decode()
        out[fmt] = {"proc": proc, "report": json.loads((work / "report.json").read_text()), "plot": plot}
        out[fmt]["categories"] = categories
    return out


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_report_schema(runs, fmt: str) -> None:  # noqa: ANN001
    run = runs[fmt]
    report, categories = run["report"], run["categories"]
    assert {"machine", "summary", "prompts", "config", "modes"} <= report.keys()
    machine = report["machine"]
    for key in ("cpu", "cores", "amx", "openvino", "onnxruntime", "python", "backend", "device", "weights"):
        assert key in machine, key
    assert machine["numerics"] == "exact" and machine["weights"] == "fp32"

    modes = [m["name"] for m in report["modes"]]
    assert modes == MODES[fmt]  # "none" first, as the baseline
    rows = {(r["mode"], r["category"]): r for r in report["summary"]}
    assert set(rows) == {(m, c) for m in modes for c in [*categories, "all"]}
    for row in report["summary"]:
        for key, kind in SUMMARY_KEYS.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["tokens_per_s"] > 0 and row["tau"] >= 1.0
    assert rows[("none", "all")]["speedup"] == 1.0 and rows[("none", "all")]["tau"] == 1.0
    assert rows[("none", "all")]["prompts"] == 2

    assert len(report["prompts"]) == 2
    for entry in report["prompts"]:
        assert entry["category"] in categories and entry["prompt_tokens"] > 0
        assert set(entry["results"]) == set(modes)
        for figures in entry["results"].values():
            assert 0 < figures["new_tokens"] <= 8 and figures["verdict"]["status"] == "identical"
            assert 0.0 <= figures["steal"] <= 1.0
    assert report["config"]["max_steal"] == 1.0 and report["steal_reruns"] == 0

    table = run["proc"].stdout.decode()
    assert all(m in table for m in modes) and "speedup" in table


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_drafter_reproduces_plain_decoding(runs, fmt: str) -> None:  # noqa: ANN001
    for row in runs[fmt]["report"]["summary"]:
        if row["category"] == "all":
            assert row["mismatches"] == 0 and row["near_ties"] == 0, row
            assert row["identical"] == 2, row


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_plot_is_written(runs) -> None:  # noqa: ANN001
    plot = runs["edge-spec"]["plot"]
    assert plot.stat().st_size > 1000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_prompt_format_is_one_line(zoo, tmp_path: Path) -> None:  # noqa: ANN001
    prompts = write_prompts(tmp_path / "odd.jsonl", [{"id": 1, "text": "hello"}])
    proc = run_cli("bench", str(zoo.bundle("llama")), "--prompts", str(prompts))
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "odd.jsonl" in lines[0] and "unknown prompt format" in lines[0], stderr


def test_genai_f32_needs_compare_genai(zoo, tmp_path: Path) -> None:  # noqa: ANN001
    prompts = write_prompts(tmp_path / "code.jsonl", FORMATS["edge-spec"][1])
    proc = run_cli("bench", str(zoo.bundle("llama")), "--prompts", str(prompts), "--genai-f32")
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--compare genai" in lines[0], stderr


def test_genai_lookup_setting_is_checked(zoo, tmp_path: Path) -> None:  # noqa: ANN001
    prompts = write_prompts(tmp_path / "code.jsonl", FORMATS["edge-spec"][1])
    bundle = str(zoo.bundle("llama"))
    for extra, expected in (
        (["--genai-lookup", "8,3"], "--compare genai"),
        (["--compare", "genai", "--genai-lookup", "8"], "K,G"),
        (["--compare", "genai", "--genai-lookup", "8,0"], "positive"),
    ):
        proc = run_cli("bench", bundle, "--prompts", str(prompts), *extra)
        stderr = proc.stderr.decode()
        assert proc.returncode == 2 and "Traceback" not in stderr, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], stderr
