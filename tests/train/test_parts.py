"""The parts of FastDraft: chat-template prefix, acceptance arithmetic, loss, checkpoints, sizing, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_spec.errors import EdgeSpecError
from edge_spec.train import train_fastdraft
from edge_spec.train.evaluate import chain_steps
from edge_spec.train.magpie import chat_prefix

from .tiny_fastdraft import TOKENIZER_DIR, small_config


def test_magpie_user_prefix_of_chatml() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    prefix = chat_prefix(tokenizer)
    assert prefix is not None
    assert prefix.user_prefix == "<|im_start|>user\n"
    assert prefix.end_of_turn == "<|im_end|>\n"
    # SmolLM2's template adds a default system prompt when the conversation has none
    assert prefix.preamble.startswith("<|im_start|>system\n") and prefix.preamble.endswith("<|im_end|>\n")
    assert prefix.question_prompt.endswith("<|im_end|>\n<|im_start|>user\n")

    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    )
    plain = chat_prefix(tokenizer)
    assert (plain.preamble, plain.user_prefix) == ("", "<|im_start|>user\n")
    tokenizer.chat_template = None
    assert chat_prefix(tokenizer) is None


def test_chain_tau_simulation() -> None:
    target = np.arange(10)
    assert chain_steps(target.copy(), target, 4) == (10, 2)  # 4 + 1, 4 + 1
    assert chain_steps(target.copy(), target, 8) == (10, 2)  # 8 + 1, then the last token alone
    wrong = target + 100
    assert chain_steps(wrong, target, 4) == (10, 10)  # plain decoding: one token a step
    draft = target.copy()
    draft[2] = -1  # accept 2 (+1), then position 3 on: 4 (+1), then 1 left
    assert chain_steps(draft, target, 4) == (10, 3)


def test_fused_head_loss_matches_cross_entropy() -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig

    from edge_spec.train.lm_loss import IGNORE, next_token_loss

    config = LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=300
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    ids = torch.randint(0, 300, (2, 9))
    labels = ids[:, 1:].clone()
    labels[0, :3] = IGNORE
    loss, scored = next_token_loss(model, ids[:, :-1], labels)
    loss.backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logits = model(ids[:, :-1]).logits
    plain = torch.nn.functional.cross_entropy(logits.reshape(-1, 300), labels.reshape(-1), ignore_index=IGNORE)
    plain.backward()
    assert scored == 13
    assert torch.allclose(loss, plain, atol=1e-5)
    for name, param in model.named_parameters():
        assert torch.allclose(fused[name], param.grad, atol=1e-6, rtol=1e-4), name


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig

    from edge_spec.train import checkpoint as ckpt
    from edge_spec.train.training_loop import make_optimizer

    config = LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=99
    )
    config.tie_word_embeddings = True
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    optimizer = make_optimizer(model, 1e-3)
    model(torch.randint(0, 99, (1, 5))).logits.sum().backward()
    optimizer.step()
    ckpt.save_checkpoint(tmp_path, {"stage": "pretrain", "step": 1}, model, optimizer)
    assert not any(p.suffix in {".pt", ".bin", ".pkl"} for p in (tmp_path / "checkpoint").iterdir())
    clone = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    again = make_optimizer(clone, 1e-3)
    ckpt.load_model(tmp_path, clone)
    ckpt.load_optimizer(tmp_path, clone, again)
    assert ckpt.load_state(tmp_path)["step"] == 1
    for (name, a), (_, b) in zip(model.named_parameters(), clone.named_parameters()):
        assert torch.equal(a, b), name
        for key, value in optimizer.state[a].items():
            assert torch.equal(value, again.state[b][key]), (name, key)


def test_default_size_of_smollm2_and_other_families() -> None:
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen3Config

    from edge_spec.train.draft_config import check_draft_size, default_draft_size, draft_config_for, per_token_weights

    smollm2 = LlamaConfig(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        vocab_size=49152,
        tie_word_embeddings=True,
    )
    assert default_draft_size(smollm2) == (4, 256)
    draft = draft_config_for(smollm2, 4, 256)
    assert (draft.num_attention_heads, draft.num_key_value_heads, draft.model_type) == (4, 1, "llama")
    assert per_token_weights(draft) <= 0.12 * per_token_weights(smollm2)
    with pytest.raises(EdgeSpecError, match="--hidden 100"):
        check_draft_size(smollm2, 4, 100)
    with pytest.raises(EdgeSpecError, match="--layers 0"):
        check_draft_size(smollm2, 0, 256)
    for config in (
        GPT2Config(n_embd=64, n_layer=3, n_head=4, vocab_size=500),
        Qwen3Config(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            vocab_size=500,
        ),
    ):
        small = draft_config_for(config, 1, 32)
        model = AutoModelForCausalLM.from_config(small)
        assert model.config.model_type == config.model_type and model.config.hidden_size == 32
        assert model(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 500)


def test_pca_embedding_keeps_the_main_directions() -> None:
    from edge_spec.train.draft_config import pca_embedding

    torch.manual_seed(0)
    basis = torch.randn(4, 16)
    emb = torch.randn(500, 4) @ basis * 3 + 0.01 * torch.randn(500, 16)
    small = pca_embedding(emb, 8)
    assert small.shape == (500, 8)
    assert small[:, 4:].abs().max() < small[:, :4].abs().max() / 20  # 4 real directions, then noise
    assert torch.isclose(small.std(), emb.std(), rtol=1e-3)


def test_head_vocab_size_batches_and_embedding() -> None:
    from edge_spec.drafters.draft_vocab import DraftVocabulary
    from edge_spec.train.draft_config import embedding_rows
    from edge_spec.train.head_vocab import DraftIds, resolve_head_vocab
    from edge_spec.train.lm_loss import IGNORE

    assert (resolve_head_vocab(None, 49152), resolve_head_vocab(None, 16384)) == (8192, 0)
    assert (resolve_head_vocab(0, 49152), resolve_head_vocab(2, 49152), resolve_head_vocab(300, 300)) == (0, 2, 300)
    for bad in (1, -1, 301):
        with pytest.raises(EdgeSpecError, match=f"--head-vocab {bad}:"):
            resolve_head_vocab(bad, 300)

    vocab = DraftVocabulary(np.array([7, 3, 5, -1]), 10)  # 7, 3, 5 and 'other' (3)
    inputs = torch.tensor([[7, 3, 9, 0]])
    labels = torch.tensor([[3, 9, IGNORE, 5]])
    mapped_inputs, mapped_labels = DraftIds(vocab).batch((inputs, labels))
    assert mapped_inputs.tolist() == [[0, 1, 3, 3]]
    assert mapped_labels.tolist() == [[1, IGNORE, IGNORE, 2]]  # an 'other' label is never a target

    target_embedding = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    rows = embedding_rows(target_embedding, vocab)
    assert torch.equal(rows[:3], target_embedding[[7, 3, 5]])
    assert torch.equal(rows[3], target_embedding[[0, 1, 2, 4, 6, 8, 9]].mean(0))


def test_greedy_predictions_never_pick_the_other_slot() -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig

    from edge_spec.train.lm_loss import greedy_predictions

    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=8)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    ids = torch.randint(0, 8, (1, 40))
    free = greedy_predictions(model, ids)
    favourite = int(free.mode().values)
    masked = greedy_predictions(model, ids, never=favourite)
    assert favourite not in masked.tolist() and torch.equal(masked[free != favourite], free[free != favourite])


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def test_bad_inputs_are_one_line_errors(tiny_target: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "draft"
    with pytest.raises(EdgeSpecError) as exc:
        train_fastdraft(small_config(tmp_path / "missing", tiny_corpus, out))
    assert "no such file or directory" in _one_line(exc)

    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_target, no_tokenizer)
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(EdgeSpecError) as exc:
        train_fastdraft(small_config(no_tokenizer, tiny_corpus, out))
    assert "tokenizer.json" in _one_line(exc)

    with pytest.raises(EdgeSpecError) as exc:
        train_fastdraft(small_config(tiny_target, tmp_path / "nothing-here", out))
    assert "no such file or folder" in _one_line(exc)

    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    (empty / "data.bin").write_bytes(b"\x00\x00")
    shutil.copy(tiny_corpus / "heldout.py", empty / "heldout.py")  # held out: no training text left
    with pytest.raises(EdgeSpecError) as exc:
        train_fastdraft(small_config(tiny_target, empty, out))
    assert "no usable text" in _one_line(exc)
    assert not out.exists()  # a failed scan leaves nothing behind

    for overrides, flag in (
        ({"layers": 0}, "--layers"),
        ({"layers": 9}, "--layers"),
        ({"hidden": 20}, "--hidden"),
        ({"head_vocab": 1}, "--head-vocab"),
        ({"head_vocab": 49153}, "--head-vocab"),
    ):
        with pytest.raises(EdgeSpecError) as exc:
            train_fastdraft(small_config(tiny_target, tiny_corpus, out, **overrides))
        assert _one_line(exc).startswith(flag)
    assert not out.exists()
