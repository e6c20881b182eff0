"""Bad input gets one clear line, exit code 2, no traceback, and nothing half-written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_process import run_cli


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    # progress lines of finished stages ("✓ stage (1.2 s)") may precede the error line
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("✓")]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_nothing_written(parent: Path, name: str) -> None:
    leftovers = [p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}.")]
    assert leftovers == [], leftovers


def test_export_missing_path(tmp_path: Path) -> None:
    proc = run_cli("export", str(tmp_path / "nope"), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "nope", "no such file")
    assert_nothing_written(tmp_path, "out")


def test_export_directory_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli("export", str(tmp_path / "empty"), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "empty", "config.json")
    assert_nothing_written(tmp_path, "out")


def test_export_non_causal_model(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(tmp_path / "bert")
    proc = run_cli("export", str(tmp_path / "bert"), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "BertModel", "not a causal language model")
    assert_nothing_written(tmp_path, "out")


def test_export_unsupported_architecture_lists_supported(tmp_path: Path) -> None:
    model = tmp_path / "weird"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "weirdlm", "architectures": ["WeirdForCausalLM"]}))
    proc = run_cli("export", str(model), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "weirdlm", "supported:", "llama", "gpt2")


def test_export_remote_code_refused_without_flag(tmp_path: Path, zoo) -> None:  # noqa: ANN001
    model = tmp_path / "remote"
    shutil.copytree(zoo.model("llama"), model)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (model / "config.json").write_text(json.dumps(config))
    proc = run_cli("export", str(model), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "--trust-remote-code")
    assert_nothing_written(tmp_path, "out")


def test_failed_export_leaves_no_bundle(tmp_path: Path, zoo) -> None:  # noqa: ANN001
    model = tmp_path / "broken"
    shutil.copytree(zoo.model("llama"), model)
    (model / "model.safetensors").write_bytes(b"\x00" * 64)  # passes the cheap checks, fails to load
    proc = run_cli("export", str(model), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "weights cannot be loaded")
    assert_nothing_written(tmp_path, "out")


@pytest.fixture
def bundle_copy(tmp_path: Path, zoo) -> Path:  # noqa: ANN001
    copy = tmp_path / "bundle"
    shutil.copytree(zoo.bundle("llama"), copy)
    return copy


def test_bundle_missing(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("generate", str(tmp_path / "none"), "hi"), "no such bundle")


def test_bundle_with_missing_file(bundle_copy: Path) -> None:
    (bundle_copy / "target" / "openvino" / "openvino_model.bin").unlink()
    assert_one_line_error(run_cli("generate", str(bundle_copy), "hi"), "openvino_model.bin", "missing")


def test_bundle_with_corrupt_file(bundle_copy: Path) -> None:
    weights = bundle_copy / "target" / "onnx" / "model.onnx.data"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern changed
    weights.write_bytes(bytes(data))
    proc = run_cli("generate", str(bundle_copy), "hi", "--backend", "onnxruntime")
    assert_one_line_error(proc, "model.onnx.data", "corrupt")


def test_bundle_with_corrupt_manifest(bundle_copy: Path) -> None:
    (bundle_copy / "edge_spec.json").write_text("{ not json")
    assert_one_line_error(run_cli("generate", str(bundle_copy), "hi"), "edge_spec.json", "corrupt")


def test_manifest_from_newer_schema(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / "edge_spec.json").read_text())
    manifest["schema_version"] = 99
    (bundle_copy / "edge_spec.json").write_text(json.dumps(manifest))
    assert_one_line_error(run_cli("generate", str(bundle_copy), "hi"), "schema version 99", "upgrade")


def test_absent_devices_list_present_ones(zoo) -> None:  # noqa: ANN001
    bundle = str(zoo.bundle("llama"))
    assert_one_line_error(run_cli("generate", bundle, "hi", "--device", "NPU"), "NPU", "present: CPU")
    proc = run_cli("generate", bundle, "hi", "--backend", "onnxruntime", "--device", "CUDA")
    assert_one_line_error(proc, "CUDA", "present: CPU")


def test_invalid_settings(zoo) -> None:  # noqa: ANN001
    bundle = str(zoo.bundle("llama"))
    assert_one_line_error(run_cli("generate", bundle, "hi", "--max-new-tokens", "0"), "max_new_tokens")
    assert_one_line_error(run_cli("generate", bundle, "hi", "--drafter", "magic"), "magic")
    assert_one_line_error(run_cli("generate", bundle, "hi", "--backend", "tvm"), "tvm", "openvino")
    assert_one_line_error(run_cli("generate", bundle, ""), "empty")
    assert_one_line_error(run_cli("generate", bundle, "-", stdin=b"\xff\xfe bad"), "UTF-8")
