"""Writes tiny GGUF files the way llama.cpp's converter does, for the GGUF import and demo tests.

The model is a random-init llama (hidden 64, 2 layers) with the bench tokenizer's real 49152-token
byte-level BPE vocabulary, so the rebuilt tokenizer can be compared id for id with the original.
Weights go through a real GGUF quantization (Q8_0 / Q4_1) so that the importer has to dequantize,
as it does for the demo's Q4_1 file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tiny_models import TOKENIZER_DIR

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LINEAR_STD = 0.2  # large enough that the layers, not the tied embedding, pick the next token
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, CONTEXT = 64, 2, 4, 2, 128, 512


def bench_vocabulary() -> tuple[list[str], list[int], list[str]]:
    """The bench tokenizer's tokens (in id order), GGUF token types and merges ("a b")."""
    raw = json.loads((TOKENIZER_DIR / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = dict(raw["model"]["vocab"])
    special = set()
    for added in raw["added_tokens"]:
        vocab[added["content"]] = added["id"]
        if added["special"]:
            special.add(added["id"])
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    types = [3 if i in special else 1 for i in range(len(tokens))]  # 3: control, 1: normal
    merges = [m if isinstance(m, str) else " ".join(m) for m in raw["model"]["merges"]]
    return tokens, types, merges


def toy_sentencepiece_vocabulary() -> tuple[list[str], list[int], list[float]]:
    """A small SentencePiece ("llama" tokenizer model) vocabulary: specials, the 256 byte tokens
    and a few pieces with scores; enough for transformers' own GGUF tokenizer conversion."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256  # unknown, control, control, then byte tokens
    pieces = ["▁", "e", "t", "a", "o", "n", "▁t", "he", "▁the", "▁a", "in", "er", "H", "l", "d", "r", "w"]
    pieces += ["ll", "llo", "ello", "Hello", "▁Hello", "or", "ld", "orld", "world", "▁world"]
    tokens += pieces
    types += [1] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, types, scores


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order (rotary halves interleaved); transformers undoes it on load."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_tiny_gguf(
    path: Path,
    seed: int = 0,
    quant: str = "Q8_0",
    pre: str = "smollm",
    tokens_override: dict[int, str] | None = None,
    eos_token_id: int = 2,
    drop: tuple[str, ...] = (),
    sentencepiece: bool = False,
) -> Path:
    """Write a tiny llama GGUF at PATH (random weights from SEED) and return PATH.

    quant: "F32", "F16", "Q8_0" or "Q4_1" for the 2D weights (norms stay F32, as llama.cpp does).
    tokens_override: token id -> replacement text, to write a deliberately broken vocabulary.
    drop: tensor names left out, to write a deliberately incomplete file.
    sentencepiece: a toy SentencePiece vocabulary (tokenizer model "llama", BOS added) instead of
    the bench tokenizer's byte-level BPE.
    """
    import gguf

    rng = np.random.default_rng(seed)
    scores: list[float] = []
    if sentencepiece:
        tokens, types, scores = toy_sentencepiece_vocabulary()
        merges: list[str] = []
    else:
        tokens, types, merges = bench_vocabulary()
    if tokens_override:
        for index, text in tokens_override.items():
            tokens[index] = text
        known = set(tokens)  # keep the vocabulary consistent: no merge may name a token that is gone
        merges = [m for m in merges if m.replace(" ", "", 1) in known and all(p in known for p in m.split(" ", 1))]
    head_dim = HIDDEN // HEADS

    def matrix(rows: int, cols: int, std: float = LINEAR_STD) -> np.ndarray:
        # Spreads well above transformers' init give clear argmax margins, as a trained model's are.
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    tensors: dict[str, np.ndarray] = {"token_embd.weight": matrix(len(tokens), HIDDEN, 0.08)}
    for layer in range(LAYERS):
        blk = f"blk.{layer}"
        tensors[f"{blk}.attn_norm.weight"] = (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        tensors[f"{blk}.attn_q.weight"] = _permute(matrix(HEADS * head_dim, HIDDEN), HEADS)
        tensors[f"{blk}.attn_k.weight"] = _permute(matrix(KV_HEADS * head_dim, HIDDEN), KV_HEADS)
        tensors[f"{blk}.attn_v.weight"] = matrix(KV_HEADS * head_dim, HIDDEN)
        tensors[f"{blk}.attn_output.weight"] = matrix(HIDDEN, HEADS * head_dim)
        tensors[f"{blk}.ffn_norm.weight"] = (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        tensors[f"{blk}.ffn_gate.weight"] = matrix(FFN, HIDDEN)
        tensors[f"{blk}.ffn_up.weight"] = matrix(FFN, HIDDEN)
        tensors[f"{blk}.ffn_down.weight"] = matrix(HIDDEN, FFN)
    tensors["output_norm.weight"] = np.ones(HIDDEN, dtype=np.float32)  # no output.weight: tied embeddings

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama" if sentencepiece else "gpt2")
    if not sentencepiece:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if sentencepiece:
        writer.add_token_scores(scores)
    else:
        writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(eos_token_id)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(sentencepiece)
    writer.add_chat_template(CHAT_TEMPLATE)
    qtype = getattr(gguf.GGMLQuantizationType, quant)
    for name, data in tensors.items():
        if name in drop:
            continue
        if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
