"""`edge-spec generate` end to end in a real process: streaming text and --json."""

from __future__ import annotations

import json

from cli_process import run_cli

from edge_spec import Pipeline


def test_json_output_matches_library(zoo) -> None:  # noqa: ANN001
    bundle = zoo.bundle("qwen2")
    proc = run_cli(
        "generate",
        str(bundle),
        "def add(a, b):",
        "--max-new-tokens",
        "12",
        "--exact",
        "--json",
        "--backend",
        "onnxruntime",
        check=True,
    )
    payload = json.loads(proc.stdout)
    expected = Pipeline.load(bundle, backend="onnxruntime", exact=True).generate("def add(a, b):", max_new_tokens=12)
    assert payload["tokens"] == expected.tokens
    assert payload["text"] == expected.text
    stats = payload["stats"]
    assert stats["new_tokens"] == len(expected.tokens) and stats["target_forwards"] == len(expected.tokens)
    assert stats["tau"] == 1.0 and stats["tokens_per_s"] > 0 and stats["ttft_s"] > 0


def test_streamed_text_is_the_whole_answer(zoo) -> None:  # noqa: ANN001
    bundle = zoo.bundle("llama")
    proc = run_cli("generate", str(bundle), "Hello there", "--max-new-tokens", "10", "--exact", check=True)
    expected = Pipeline.load(bundle, exact=True).generate("Hello there", max_new_tokens=10)
    assert proc.stdout.decode() == expected.text + "\n"
    assert "tok/s" in proc.stderr.decode()


def test_version_and_help() -> None:
    proc = run_cli("--version", check=True)
    assert proc.stdout.decode().startswith("edge-spec ")
    for command in ("export", "generate", "devices", "inspect"):
        proc = run_cli(command, "--help", check=True)
        assert "Example" in proc.stdout.decode(), command
