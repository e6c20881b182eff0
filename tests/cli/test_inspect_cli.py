"""`edge-spec inspect`: the parts (target and draft), formats, drafters, n-gram DBs and devices."""

from __future__ import annotations

from cli_process import run_cli


def test_inspect_lists_the_draft_and_devices(zoo) -> None:  # noqa: ANN001
    result = run_cli("inspect", str(zoo.bundle_with_draft("llama")), env={"COLUMNS": "250"})  # no wrapped cells
    text = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "target" in text and "draft (vocab 49152)" in text
    assert "openvino" in text and "onnx" in text
    assert "auto (draft + ngram)" in text
    assert "runs here on: openvino: CPU" in text and "onnxruntime: CPU" in text


def test_inspect_without_a_draft(zoo) -> None:  # noqa: ANN001
    result = run_cli("inspect", str(zoo.bundle("qwen2")), env={"COLUMNS": "250"})
    text = result.stdout.decode()
    assert result.returncode == 0
    assert "draft (" not in text and "auto (ngram)" in text
