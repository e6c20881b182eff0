"""`train fastdraft` through typer's CliRunner: exit 0 with the acceptance table, exit 2 on bad input."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from edge_spec.train.cli import train_app

SMALL = ["--layers", "1", "--hidden", "32", "--pretrain-tokens", "128", "--align-samples", "4"]
SMALL += ["--seq-len", "32", "--batch", "2", "--threads", "1"]


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(train_app, ["fastdraft", *args])


def error_line(result) -> str:  # noqa: ANN001
    lines = [line for line in result.output.splitlines() if line.strip().startswith("error:")]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_cli_trains_and_prints_the_table(tiny_target: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "draft"
    common = ["--target", str(tiny_target), "--corpus", str(tiny_corpus), "-o", str(out), *SMALL]
    result = invoke(*common, "--max-minutes", "0")
    assert result.exit_code == 0, result.output
    assert "stopped (max-minutes)" in result.output and "--resume" in result.output

    assert "--resume" in error_line(invoke(*common))

    result = invoke(*common, "--resume")
    assert result.exit_code == 0, result.output
    assert "before alignment" in result.output and "tau k=8" in result.output
    assert (out / "model.safetensors").is_file() and (out / "fastdraft_report.json").is_file()
    # the default for a 49152-token target: its 8192 most frequent tokens
    assert "head vocabulary 8192" in result.output and (out / "draft_vocab.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["vocab_size"] == 8192


def test_cli_bad_input_exits_2(tiny_target: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "draft")
    assert "no such file or directory" in error_line(invoke("--target", str(tmp_path / "nope"), "-o", out))
    assert "--hidden 33" in error_line(invoke("--target", str(tiny_target), "-o", out, "--hidden", "33"))
    assert "--layers 5" in error_line(invoke("--target", str(tiny_target), "-o", out, "--layers", "5"))
    assert "--head-vocab 1:" in error_line(invoke("--target", str(tiny_target), "-o", out, "--head-vocab", "1"))
    assert error_line(invoke("--target", str(tiny_target), "-o", out, "--distill-tokens", "-1")).endswith(
        "--distill-tokens -1: must be 0 or more"
    )
    assert "--distill-epochs 0.0:" in error_line(
        invoke("--target", str(tiny_target), "-o", out, "--distill-epochs", "0")
    )
    missing = str(tmp_path / "no-corpus")
    assert "no such file" in error_line(invoke("--target", str(tiny_target), "--corpus", missing, "-o", out))
    assert not Path(out).exists()


def test_table_has_a_distillation_column_only_when_the_run_distilled() -> None:
    from rich.console import Console

    from edge_spec.train.cli import acceptance_table

    def figures(agreement: float) -> dict:
        return {"samples": 3, "agreement": agreement, "tau": {"k4": 1.5}, "by_kind": {"code": {"agreement": agreement}}}

    def render(report: dict) -> str:
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(acceptance_table(report))
        return console.export_text()

    plain = render({"before": figures(0.25), "after": figures(0.5)})
    assert "before alignment" in plain and "after distillation" not in plain and "0.500" in plain
    distilled = render({"before": figures(0.25), "after_distill": figures(0.375), "after": figures(0.5)})
    row = next(line for line in distilled.splitlines() if "all (3)" in line)
    assert "after distillation" in distilled and re.findall(r"\d\.\d+", row) == ["0.250", "0.375", "0.500"]
