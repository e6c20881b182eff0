"""The draft-model drafter: lossless on every architecture and backend, its cache kept level.

Exact numerics (f32). A draft of the same family with other random weights is mostly rejected;
the target as its own draft is always accepted (long chains, the cascade's agreed prefix).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from reduced_draft import reduced_self_draft

from edge_spec import Pipeline
from edge_spec.drafters.base import DraftBudget
from edge_spec.drafters.draft_model import DraftModelConfig
from edge_spec.engine.planner import DraftPlanner, VerifyCost
from edge_spec.errors import ExportError

REPETITIVE = "x = 1\ny = 2\nz = 3\n" * 6
PROMPTS = ["def fibonacci(n):\n    ", REPETITIVE, "<|im_start|>user\nHi!<|im_end|>\n"]
NEW = 40


@pytest.mark.parametrize("drafter", ["draft", "auto"])
def test_draft_equals_plain(zoo, arch, backend, drafter) -> None:  # noqa: ANN001
    bundle = zoo.bundle_with_draft(arch)
    plain = Pipeline.load(bundle, backend=backend, exact=True)
    spec = Pipeline.load(bundle, backend=backend, exact=True, drafter=drafter, model_db=None)
    assert spec.drafter.name == drafter
    noise = np.random.default_rng(0).integers(3, plain.session.vocab_size, 30).tolist()
    for prompt in [*PROMPTS, noise]:
        ids = plain.encode(prompt)
        want = plain.generate(ids, max_new_tokens=NEW)
        got = spec.generate(ids, max_new_tokens=NEW)
        assert got.tokens == want.tokens, f"{arch}/{backend}/{drafter} diverged on {str(prompt)[:30]!r}"
        assert got.stats.new_tokens == want.stats.new_tokens


@pytest.mark.parametrize("backend_name", ["openvino", "onnxruntime"])
def test_self_draft_is_always_accepted(zoo, backend_name) -> None:  # noqa: ANN001
    """The target as its own draft: every drafted token is right, so a pass yields several tokens."""
    bundle = zoo.bundle_with_draft("llama", draft="self")
    plain = Pipeline.load(bundle, backend=backend_name, exact=True)
    spec = Pipeline.load(bundle, backend=backend_name, exact=True, drafter="draft")
    # random weights give flat distributions: draft the whole depth, verify every node
    spec.drafter.config = DraftModelConfig(min_chance=0.0, gated=False)
    spec._planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0]), gated=False)
    ids = plain.encode(PROMPTS[0])
    want = plain.generate(ids, max_new_tokens=NEW).tokens
    got = spec.generate(ids, max_new_tokens=NEW)
    assert got.tokens == want
    assert got.stats.accepted_tokens == got.stats.drafted_tokens - got.stats.tier_hits.get("draft-alt", [0, 0])[0]
    assert got.stats.accepted_tokens > 0
    assert got.stats.tau >= 4.0, got.stats.to_dict()


def test_draft_cache_follows_the_history(zoo) -> None:  # noqa: ANN001
    """After every step the draft's cache holds a prefix of history + what it drafted, no more."""
    bundle = zoo.bundle_with_draft("llama")
    pipe = Pipeline.load(bundle, exact=True, drafter="draft")
    drafter = pipe.drafter
    drafter.config = DraftModelConfig(max_rest=0, gated=False)  # draft every step, however often it misses
    target_ids = pipe.encode(PROMPTS[0])
    answer = pipe.generate(target_ids, max_new_tokens=24).tokens
    drafter.reset()
    drafter.observe([*target_ids, answer[0]])
    done = 1
    while done < len(answer):
        tree = drafter.propose(DraftBudget(max_nodes=16, max_depth=8))
        assert drafter.session.length == len(drafter.cached)
        assert drafter.cached[: len(drafter.history)] == drafter.history
        assert len(tree) >= 1
        step = answer[done : done + 3]  # pretend the target emitted three tokens
        drafter.observe(step)
        done += len(step)
    # a new request sharing a prefix keeps that much of the draft's cache
    drafter.reset()
    drafter.observe(target_ids[:4])
    drafter.propose(DraftBudget(max_nodes=16, max_depth=4))
    assert drafter.cached[:4] == target_ids[:4]


def test_padded_draft_vocabulary_is_sliced(zoo, tmp_path) -> None:  # noqa: ANN001
    """A draft whose embedding table is padded larger still drafts in the shared vocabulary."""
    import torch
    from transformers import AutoModelForCausalLM

    from edge_spec.export.exporter import ExportOptions, export_model

    small = AutoModelForCausalLM.from_pretrained(zoo.model("llama"), dtype=torch.float32)
    small.resize_token_embeddings(small.config.vocab_size + 64)
    draft_dir = tmp_path / "padded"
    small.save_pretrained(draft_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (zoo.model("llama") / name).is_file():
            shutil.copy(zoo.model("llama") / name, draft_dir / name)
    bundle = export_model(
        zoo.model("llama"), tmp_path / "bundle", ExportOptions(formats=("openvino",), weights="fp32", draft=draft_dir)
    )
    manifest = json.loads((bundle / "edge_spec.json").read_text())
    entry = manifest["drafters"][0]
    assert entry["spec"]["vocab_size"] == manifest["target"]["vocab_size"] + 64
    assert entry["shared_vocab"] == manifest["target"]["vocab_size"]
    plain = Pipeline.load(bundle, exact=True)
    spec = Pipeline.load(bundle, exact=True, drafter="draft")
    ids = plain.encode(PROMPTS[0])
    assert spec.generate(ids, max_new_tokens=NEW).tokens == plain.generate(ids, max_new_tokens=NEW).tokens


def test_draft_with_another_vocabulary_is_refused(zoo, tmp_path) -> None:  # noqa: ANN001
    from edge_spec.export.exporter import ExportOptions, export_model

    draft_dir = tmp_path / "other-vocab"
    shutil.copytree(zoo.model("llama"), draft_dir)
    tok = json.loads((draft_dir / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = "def", "class"
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (draft_dir / "tokenizer.json").write_text(json.dumps(tok))
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="tokenizer is not the target's") as info:
        export_model(zoo.model("llama"), out, ExportOptions(formats=("openvino",), weights="fp32", draft=draft_dir))
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_draft_drafter_without_a_draft_is_one_line(zoo) -> None:  # noqa: ANN001
    from edge_spec.errors import EdgeSpecError

    with pytest.raises(EdgeSpecError, match="has no draft model"):
        Pipeline.load(zoo.bundle("llama"), exact=True, drafter="draft")
    assert Pipeline.load(zoo.bundle("llama"), exact=True, drafter="auto").drafter.name == "ngram"


def test_a_draft_that_keeps_missing_sits_out(zoo) -> None:  # noqa: ANN001
    """Rejected first tokens make the draft rest for 1, 2, 4... steps; output is unchanged."""
    bundle = zoo.bundle_with_draft("llama")
    plain = Pipeline.load(bundle, exact=True)
    spec = Pipeline.load(bundle, exact=True, drafter="draft")
    spec._planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0]), gated=False)
    ids = plain.encode(PROMPTS[0])
    calls = spec.drafter.session.forward_calls
    result = spec.generate(ids, max_new_tokens=NEW)
    assert result.tokens == plain.generate(ids, max_new_tokens=NEW).tokens
    draft_calls = spec.drafter.session.forward_calls - calls
    # a random draft misses nearly always: far fewer draft calls than target steps
    assert draft_calls < result.stats.target_forwards * 0.75, (draft_calls, result.stats.target_forwards)


FORMAT_OF = {"openvino": "openvino", "onnxruntime": "onnx"}  # the one format each backend runs


@pytest.mark.parametrize("backend_name", ["openvino", "onnxruntime"])
def test_reduced_vocabulary_draft(zoo, tmp_path, backend_name) -> None:  # noqa: ANN001
    """A draft over a subset of the vocabulary (FR-Spec) maps its ids both ways: the target as its
    own reduced draft is accepted wherever the target's token is in the subset; with the answer's
    commonest token dropped from the subset the draft misses there, and the output is unchanged."""
    from edge_spec.export.exporter import ExportOptions, export_model

    plain = Pipeline.load(zoo.bundle("llama"), backend=backend_name, exact=True)
    ids = plain.encode(PROMPTS[0])
    want = plain.generate(ids, max_new_tokens=NEW).tokens
    unused = sorted(set(range(plain.session.vocab_size)) - set(ids) - set(want))
    dropped = set(np.random.default_rng(0).choice(unused, 500, replace=False).tolist())
    commonest = max(set(want), key=want.count)
    for case, drop in (("subset", dropped), ("missing", dropped | {commonest})):
        draft_dir = reduced_self_draft(zoo.model("llama"), tmp_path / case, drop)
        bundle = export_model(
            zoo.model("llama"),
            tmp_path / f"bundle-{case}",
            ExportOptions(formats=(FORMAT_OF[backend_name],), weights="fp32", draft=draft_dir),
        )
        entry = json.loads((bundle / "edge_spec.json").read_text())["drafters"][0]
        assert entry["vocab"] == "draft/draft_vocab.safetensors"
        assert entry["spec"]["vocab_size"] == plain.session.vocab_size - len(drop) + 1
        assert entry["shared_vocab"] == plain.session.vocab_size
        spec = Pipeline.load(bundle, backend=backend_name, exact=True, drafter="draft")
        spec.drafter.config = DraftModelConfig(min_chance=0.0, max_rest=0, gated=False)
        spec._planner = DraftPlanner(VerifyCost(sizes=[1, 64], seconds=[1.0, 1.0]), gated=False)
        got = spec.generate(ids, max_new_tokens=NEW)
        assert got.tokens == want, case
        if case == "subset":
            assert got.stats.tau >= 3.0, got.stats.to_dict()
        else:  # the draft never proposes the token it lacks, so it misses wherever that one comes
            assert got.stats.accepted_tokens < got.stats.drafted_tokens
            assert got.stats.tau < 3.0, got.stats.to_dict()


def test_damaged_draft_vocabulary_is_refused(zoo, tmp_path) -> None:  # noqa: ANN001
    from edge_spec.drafters.draft_vocab import OTHER, VOCAB_FILE
    from edge_spec.export.exporter import ExportOptions, export_model

    draft_dir = reduced_self_draft(zoo.model("llama"), tmp_path / "reduced", set(range(100, 600)))
    size = json.loads((draft_dir / "config.json").read_text())["vocab_size"]
    from safetensors.numpy import save_file

    twice = np.asarray([*range(size - 2), 5, OTHER], dtype=np.int64)
    save_file({"target_ids": twice}, str(draft_dir / VOCAB_FILE))
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="appears twice") as info:
        export_model(zoo.model("llama"), out, ExportOptions(formats=("openvino",), weights="fp32", draft=draft_dir))
    assert "\n" not in str(info.value) and VOCAB_FILE in str(info.value)
    (draft_dir / VOCAB_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ExportError, match="not a readable draft vocabulary"):
        export_model(zoo.model("llama"), out, ExportOptions(formats=("openvino",), weights="fp32", draft=draft_dir))
    assert not out.exists()


def test_each_drafter_name_gets_that_drafter_on_a_bundle_with_a_draft(zoo) -> None:  # noqa: ANN001
    """--drafter ngram means the n-gram tiers alone even when the bundle has a draft model."""
    bundle = zoo.bundle_with_draft("llama")
    names = {}
    for name in ("none", "ngram", "draft", "auto"):
        drafter = Pipeline.load(bundle, exact=True, drafter=name, model_db=None).drafter
        names[name] = (drafter.name, type(drafter).__name__)
    assert names == {
        "none": ("none", "NoDrafter"),
        "ngram": ("ngram", "NgramDrafter"),
        "draft": ("draft", "DraftModelDrafter"),
        "auto": ("auto", "DraftModelDrafter"),
    }
