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
        "--drafter",
        "none",
        check=True,
    )
    payload = json.loads(proc.stdout)
    expected = Pipeline.load(bundle, backend="onnxruntime", exact=True).generate("def add(a, b):", max_new_tokens=12)
    assert payload["tokens"] == expected.tokens
    assert payload["text"] == expected.text
    stats = payload["stats"]
    assert stats["new_tokens"] == len(expected.tokens) and stats["target_forwards"] == len(expected.tokens)
    assert stats["tau"] == 1.0 and stats["tokens_per_s"] > 0 and stats["ttft_s"] > 0


def test_ngram_drafter_json_stats(zoo) -> None:  # noqa: ANN001
    """--drafter ngram gives plain decoding's tokens, with fewer target forwards on a repetitive prompt."""
    bundle = zoo.bundle("llama")
    prompt = "a = 1\nb = 2\n" * 8
    proc = run_cli(
        "generate", str(bundle), prompt, "--max-new-tokens", "32", "--exact", "--json", "--drafter", "ngram", check=True
    )
    payload = json.loads(proc.stdout)
    expected = Pipeline.load(bundle, exact=True).generate(prompt, max_new_tokens=32)
    assert payload["tokens"] == expected.tokens
    stats = payload["stats"]
    for key in ("new_tokens", "target_forwards", "tau", "tokens_per_s", "ttft_s", "accepted_per_depth", "tier_hits"):
        assert key in stats, key
    assert stats["drafter"] == "ngram"
    assert stats["target_forwards"] < stats["new_tokens"] and stats["tau"] > 1.0


def test_streamed_text_is_the_whole_answer(zoo) -> None:  # noqa: ANN001
    bundle = zoo.bundle("llama")
    proc = run_cli("generate", str(bundle), "Hello there", "--max-new-tokens", "10", "--exact", check=True)
    expected = Pipeline.load(bundle, exact=True).generate("Hello there", max_new_tokens=10)
    assert proc.stdout.decode() == expected.text + "\n"
    assert "tok/s" in proc.stderr.decode()


def test_version_and_help() -> None:
    proc = run_cli("--version", check=True)
    assert proc.stdout.decode().startswith("edge-spec ")
    for command in ("export", "generate", "bench", "devices", "inspect"):
        proc = run_cli(command, "--help", check=True)
        assert "Example" in proc.stdout.decode(), command
