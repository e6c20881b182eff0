"""GGUF files as export input: the converted directory and the bundle decode exactly like
transformers on the GGUF file itself, the tokenizer is rebuilt faithfully, and a bad file is one line.

The GGUF is written here (tests/export/gguf_writer.py): a tiny random llama with Q8_0 weights and
the bench tokenizer's real vocabulary, so the rebuilt tokenizer can be compared id for id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_models import TOKENIZER_DIR

from edge_spec import GenerationConfig, Pipeline
from edge_spec.errors import ExportError
from edge_spec.export.gguf_source import ROUND_TRIP_SAMPLES, GGUFVocabulary, gguf_to_model_dir, tokenizer_problem

from .gguf_writer import CHAT_TEMPLATE, bench_vocabulary, write_tiny_gguf

PROMPT = "def fibonacci(n):\n    # 1, 1, 2, 3, 5, 8"
NEW_TOKENS = 16


def hf_greedy(model, ids: list[int]) -> list[int]:  # noqa: ANN001
    """transformers' greedy continuation, EOS not stopping it (the bundle runs with ignore_eos too)."""
    from transformers import GenerationConfig as HFGenerationConfig

    config = HFGenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), generation_config=config
        )
    return out[0, len(ids) :].tolist()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gguf")


@pytest.fixture(scope="module")
def gguf_file(work: Path) -> Path:
    return write_tiny_gguf(work / "tiny-llama.Q8_0.gguf", quant="Q8_0")


@pytest.fixture(scope="module")
def model_dir(gguf_file: Path, work: Path) -> Path:
    out = work / "converted"
    out.mkdir()
    return gguf_to_model_dir(gguf_file, out)


@pytest.fixture(scope="module")
def prompt_ids(model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(str(model_dir))(PROMPT)["input_ids"])


@pytest.fixture(scope="module")
def direct(gguf_file: Path):  # noqa: ANN201
    """transformers' model of the GGUF file, loaded directly."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32)
    return model.eval()


@pytest.fixture(scope="module")
def reference(direct, prompt_ids: list[int]) -> list[int]:  # noqa: ANN001
    """Greedy tokens of transformers on the GGUF file loaded directly."""
    tokens = hf_greedy(direct, prompt_ids)
    assert len(tokens) == NEW_TOKENS and len(set(tokens)) > 3, tokens  # a degenerate model would prove little
    return tokens


def test_model_dir_decodes_like_transformers_on_the_gguf(model_dir: Path, prompt_ids, reference) -> None:  # noqa: ANN001
    from transformers import AutoModelForCausalLM

    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "generation_config.json" in names
    config = json.loads((model_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert (generation["bos_token_id"], generation["eos_token_id"]) == (1, 2)

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert hf_greedy(model, prompt_ids) == reference


def test_weights_are_read_from_a_copy_without_the_vocabulary(gguf_file: Path, model_dir: Path, direct, work) -> None:  # noqa: ANN001
    """transformers parses the metadata twice: it gets a copy without the tokenizer's arrays (most
    of the metadata), and the weights come out as its own from the whole file, bit for bit."""
    from gguf import GGUFReader
    from safetensors.torch import load_file

    from edge_spec.export.gguf_source import _Fields, _without_vocabulary

    reader = GGUFReader(str(gguf_file))
    fields = _Fields(reader, gguf_file)
    out = work / "light"
    out.mkdir()
    light = _without_vocabulary(reader, fields, "llama", len(fields.get("tokenizer.ggml.tokens")), out)
    assert light != gguf_file and light.parent == out
    light_fields = GGUFReader(str(light)).fields
    assert "tokenizer.ggml.tokens" not in light_fields and "tokenizer.ggml.merges" not in light_fields
    assert light_fields.keys() >= {"llama.block_count", "llama.vocab_size", "tokenizer.ggml.eos_token_id"}
    assert [p.name for p in model_dir.parent.iterdir()] == ["model"]  # the conversion removed its copy

    saved = load_file(str(model_dir / "model.safetensors"))
    want = direct.state_dict()
    assert saved and all(torch.equal(tensor, want[name]) for name, tensor in saved.items())


def test_rebuilt_tokenizer_is_the_original(model_dir: Path) -> None:
    """Same vocabulary and pre-tokenizer ("smollm") as the bench tokenizer: the same ids, the same template."""
    from transformers import AutoTokenizer

    rebuilt = AutoTokenizer.from_pretrained(str(model_dir))
    original = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    for text in (*ROUND_TRIP_SAMPLES, PROMPT, "<|im_start|>user\nHi<|im_end|>\n"):
        assert rebuilt(text)["input_ids"] == original(text)["input_ids"], text
        assert rebuilt.decode(rebuilt(text)["input_ids"]) == text
    assert (rebuilt.bos_token_id, rebuilt.eos_token_id) == (1, 2)
    assert rebuilt.chat_template == CHAT_TEMPLATE
    messages = [{"role": "user", "content": "Hello"}]
    assert rebuilt.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == (
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )


def test_bundle_from_gguf_decodes_like_transformers(gguf_file: Path, work: Path, prompt_ids, reference) -> None:  # noqa: ANN001
    from edge_spec.export.exporter import ExportOptions, export_model

    stages: list[str] = []
    bundle = export_model(
        gguf_file, work / "bundle", ExportOptions(formats=("openvino",), weights="fp32"), on_stage=stages.append
    )
    manifest = json.loads((bundle / "edge_spec.json").read_text())
    assert manifest["source"]["path"] == str(gguf_file.resolve())
    assert any("GGUF" in s for s in stages)
    with Pipeline.load(bundle, exact=True) as pipe:
        assert pipe.tokenizer.encode(PROMPT) == prompt_ids
        assert pipe.tokenizer.has_chat_template
        result = pipe.generate(PROMPT, GenerationConfig(max_new_tokens=NEW_TOKENS, ignore_eos=True))
    assert result.tokens == reference


def test_truncated_gguf_is_one_line(tmp_path: Path) -> None:
    data = write_tiny_gguf(tmp_path / "whole.gguf", quant="F16", sentencepiece=True).read_bytes()
    for cut in (len(data) // 2, 64):
        broken = tmp_path / f"cut-{cut}.gguf"
        broken.write_bytes(data[:cut])
        out = tmp_path / f"out-{cut}"
        out.mkdir()
        with pytest.raises(ExportError) as info:
            gguf_to_model_dir(broken, out)
        message = str(info.value)
        assert "\n" not in message and str(broken) in message and "truncated" in message


def test_not_a_gguf_is_one_line_through_the_exporter(tmp_path: Path) -> None:
    from edge_spec.export.exporter import ExportOptions, export_model

    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model\n")
    with pytest.raises(ExportError) as info:
        export_model(fake, tmp_path / "bundle", ExportOptions(formats=("openvino",), weights="fp32"))
    message = str(info.value)
    assert "\n" not in message and str(fake) in message and "not a GGUF file" in message
    assert not (tmp_path / "bundle").exists()


def test_vocabulary_that_cannot_round_trip_is_refused(tmp_path: Path) -> None:
    """A vocabulary missing the byte-level token for 0xF0 (the first byte of most emoji) cannot
    encode emoji: the round-trip check catches it before any weight is dequantized."""
    tokens, _, _ = bench_vocabulary()
    broken = write_tiny_gguf(tmp_path / "broken.gguf", quant="F16", tokens_override={tokens.index("ð"): "<lost-byte>"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError) as info:
        gguf_to_model_dir(broken, out)
    message = str(info.value)
    assert "\n" not in message and str(broken) in message
    assert "decode(encode(" in message and "emoji" in message
    assert not (out / "model" / "model.safetensors").exists()  # stopped before the weights


def test_special_token_ids_are_checked(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokens, types, merges = bench_vocabulary()
    good = GGUFVocabulary("gpt2", "smollm", tokens, types, merges, bos_id=1, eos_id=2, unk_id=0, pad_id=2)
    assert tokenizer_problem(tokenizer, good) is None
    wrong_eos = GGUFVocabulary("gpt2", "smollm", tokens, types, merges, bos_id=1, eos_id=0, unk_id=0, pad_id=2)
    assert tokenizer_problem(tokenizer, wrong_eos) == "EOS token id is 2, the GGUF says 0"
    wants_bos = GGUFVocabulary(
        "gpt2", "smollm", tokens, types, merges, bos_id=1, eos_id=2, unk_id=0, pad_id=2, add_bos=True
    )
    assert "BOS is not added" in tokenizer_problem(tokenizer, wants_bos)


def test_a_model_marked_quantized_is_copied_into_a_plain_one(model_dir: Path) -> None:
    """Newer transformers mark a GGUF-loaded model as quantized (and refuse save_pretrained):
    the weights are moved into a plain model of the same config, tied embeddings still tied."""
    from transformers import AutoModelForCausalLM

    from edge_spec.export.gguf_source import _plain_model

    loaded = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    want = {k: v.clone() for k, v in loaded.state_dict().items()}
    loaded.config.quantization_config = {"quant_method": "gguf"}
    plain = _plain_model(model_dir, loaded)
    assert plain is not loaded and getattr(plain.config, "quantization_config", None) is None
    got = plain.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert plain.lm_head.weight is plain.model.embed_tokens.weight


def test_unsupported_architecture_is_one_line(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "mamba.gguf"
    writer = gguf.GGUFWriter(str(path), "mamba")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError) as info:
        gguf_to_model_dir(path, out)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "'mamba' is not supported" in message


def test_missing_weights_are_refused_not_random(tmp_path: Path) -> None:
    """transformers would fill a weight missing from the file with random values (a warning only)."""
    incomplete = write_tiny_gguf(tmp_path / "incomplete.gguf", drop=("blk.1.ffn_down.weight",), sentencepiece=True)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError) as info:
        gguf_to_model_dir(incomplete, out)
    message = str(info.value)
    assert "\n" not in message and str(incomplete) in message
    assert "missing model.layers.1.mlp.down_proj.weight" in message


def test_sentencepiece_vocabulary_uses_transformers_conversion(tmp_path: Path) -> None:
    """Tokenizer models other than byte-level BPE go through transformers' GGUF conversion, checked the same way."""
    from transformers import AutoTokenizer

    spm = write_tiny_gguf(tmp_path / "spm.gguf", quant="F16", sentencepiece=True)
    out = tmp_path / "out"
    out.mkdir()
    model_dir = gguf_to_model_dir(spm, out)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    ids = tokenizer("Hello world")["input_ids"]
    assert ids[0] == 1 and tokenizer.decode(ids[1:]) == "Hello world"  # BOS added, as llama.cpp does for SPM
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 2)
