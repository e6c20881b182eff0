"""GGUF files as export input: a GGUF file -> a Hugging Face model directory (fp32 safetensors).

Many people have their local LLM as a llama.cpp GGUF file, often quantized, rather than as a
Hugging Face directory. The exporter only knows HF directories, so this module turns the file into
one: transformers dequantizes the weights to fp32 (the bundle re-compresses them in its own way),
and the tokenizer is rebuilt from the GGUF vocabulary so that it splits text the way llama.cpp does
for that file. The rebuilt tokenizer is checked (text round-trips, special token ids are the GGUF's)
before any weight is touched, because a subtly wrong tokenizer gives plausible but worse answers
and would go unnoticed otherwise.

Every refusal is one ExportError line naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_spec.errors import ExportError
from edge_spec.export.quiet_libraries import quiet_transformers

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"

# GGUF token types (llama.cpp's llama_token_type).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

# Text the rebuilt tokenizer must give back unchanged: ASCII, contractions, code with indentation
# and tabs, digit runs, accents, CJK, Cyrillic, emoji (4-byte UTF-8, skin-tone modifier, ZWJ) and
# whitespace runs, which are what byte-level BPE pre-tokenizers differ on.
ROUND_TRIP_SAMPLES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure it's fine; they'll say we've done what you'd expect, won't they?",
    "def fibonacci(n):\n    if n < 2:\n        return n\n\treturn fibonacci(n - 1) + fibonacci(n - 2)\n",
    "3.14159 and 1234567890, 2024-06-01 12:30:45, 0x1F and 1e-9",
    "héllo wörld — naïve café, Ångström; 日本語のテキスト, Привет мир, مرحبا",
    "emoji 🚀🎉 👍🏽 👩‍💻 ✨",
    "a  b   c\n\n\n  \t d    \n",
    "   leading and trailing spaces   ",
)

# llama.cpp's pre-tokenizer regexes (src/llama-vocab.cpp), written the way the models' own
# tokenizer.json files write them; HF tokenizers' Oniguruma understands (?i:...) and \p{...}.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class PreTokenizerFamily:
    """How one family of byte-level BPE vocabularies splits text before the merges run.

    splits: regexes applied in order (each match isolated) before the byte-level mapping; an
    empty tuple means the byte-level pre-tokenizer's own (GPT-2) regex does the splitting.
    """

    name: str
    splits: tuple[str, ...] = ()
    individual_digits: bool = False  # SmolLM / StarCoder: every digit a word of its own
    ignore_merges: bool = False  # a word that is itself a token is not merged again (Llama 3)
    add_bos: bool = False  # llama.cpp's default when the GGUF has no tokenizer.ggml.add_bos_token


_FAMILIES: dict[str, PreTokenizerFamily] = {}
for _family, _names in (
    (
        PreTokenizerFamily("gpt2"),
        ("gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "gigachat", "mellum", "a.x-4.0"),
    ),
    (
        PreTokenizerFamily("digits", individual_digits=True),
        ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"),
    ),
    (
        PreTokenizerFamily("llama3", splits=(_LLAMA3,), ignore_merges=True, add_bos=True),
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"),
    ),
    (PreTokenizerFamily("llama3-regex", splits=(_LLAMA3,)), ("dbrx", "smaug-bpe")),
    (PreTokenizerFamily("qwen2", splits=(_QWEN2,)), ("qwen2", "deepseek-r1-qwen", "stablelm2", "megrez")),
    (PreTokenizerFamily("gpt-4o", splits=(_GPT4O,)), ("gpt-4o", "llama4")),
    (PreTokenizerFamily("tekken", splits=(_TEKKEN,), ignore_merges=True, add_bos=True), ("tekken",)),
    (
        PreTokenizerFamily("falcon", splits=(r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, r"[0-9][0-9][0-9]")),
        ("falcon",),
    ),
    (
        PreTokenizerFamily("default", splits=(r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")),
        ("default", ""),
    ),
):
    for _name in _names:
        _FAMILIES[_name] = _family


@dataclass
class GGUFVocabulary:
    """The tokenizer facts a GGUF file carries (tokenizer.ggml.* and tokenizer.chat_template)."""

    model: str
    pre: str
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    pad_id: int | None
    extra_eos_ids: list[int] = field(default_factory=list)  # end-of-turn / end-of-message tokens
    add_bos: bool | None = None
    chat_template: str | None = None
    context_length: int | None = None

    def token(self, index: int | None) -> str | None:
        return self.tokens[index] if index is not None and 0 <= index < len(self.tokens) else None


def gguf_to_model_dir(gguf_file: Path, out_dir: Path) -> Path:
    """Turn GGUF_FILE into a Hugging Face model directory inside OUT_DIR and return it.

    The directory holds config.json, model.safetensors (fp32, dequantized), generation_config.json
    and the rebuilt tokenizer (tokenizer.json, tokenizer_config.json, the chat template). OUT_DIR is
    the caller's (empty, temporary) directory: nothing is written anywhere else.
    """
    gguf_file = Path(gguf_file).expanduser()
    out_dir = Path(out_dir)
    _check_header(gguf_file)
    reader = _open_reader(gguf_file)
    fields = _Fields(reader, gguf_file)
    architecture = fields.get("general.architecture")
    if not isinstance(architecture, str):
        raise ExportError(f"{gguf_file}: no general.architecture in the GGUF metadata; not a model file")
    _check_architecture(gguf_file, architecture)
    vocabulary = _read_vocabulary(fields, architecture)
    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    log.info("%s: rebuilding the %s tokenizer (%d tokens)", gguf_file.name, vocabulary.model, len(vocabulary.tokens))
    _write_tokenizer(gguf_file, vocabulary, model_dir)
    check_tokenizer(model_dir, vocabulary, gguf_file)
    log.info("%s: dequantizing the %s weights to fp32", gguf_file.name, architecture)
    weights_file = _without_vocabulary(reader, fields, architecture, len(vocabulary.tokens), out_dir)
    del reader, fields  # the memory map; transformers opens the file again
    try:
        _write_model(gguf_file, vocabulary, model_dir, weights_file)
    finally:
        if weights_file != gguf_file:
            weights_file.unlink(missing_ok=True)
    log.info("%s: converted to %s", gguf_file.name, model_dir)
    return model_dir


# --- reading the file --------------------------------------------------------------------------


def _check_header(path: Path) -> None:
    """Fail fast, with a clear line, on a path that is not a GGUF file at all."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if magic != GGUF_MAGIC:
        raise ExportError(f"{path}: not a GGUF file (it does not start with 'GGUF'); give a .gguf model file")


def _open_reader(path: Path):  # noqa: ANN202
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ExportError(
            f"{path}: reading GGUF files needs the gguf package; pip install 'edge-spec[export]' (or gguf)"
        ) from None
    try:
        reader = GGUFReader(str(path))
        for tensor in reader.tensors:  # a truncated file shows up as a tensor shorter than its shape
            _ = tensor.data.shape
    except Exception as exc:  # gguf raises ValueError, IndexError, struct and numpy errors alike
        raise ExportError(
            f"{path}: not a readable GGUF file ({_first_line(exc)}); it may be truncated or corrupt, download it again"
        ) from None
    return reader


class _Fields:
    """GGUF metadata values as Python values, read from the reader's raw parts (older gguf
    versions have no ReaderField.contents())."""

    def __init__(self, reader, path: Path):  # noqa: ANN001
        self.raw = reader.fields
        self.path = path

    def get(self, key: str, default: Any = None) -> Any:
        from gguf import GGUFValueType

        item = self.raw.get(key)
        if item is None:
            return default
        try:
            if not item.types:
                return default
            kind = item.types[0]
            if kind == GGUFValueType.ARRAY:
                sub = item.types[-1]
                if sub == GGUFValueType.STRING:
                    return [bytes(item.parts[i]).decode("utf-8") for i in item.data]
                return [v.item() for i in item.data for v in item.parts[i]]
            value = item.parts[item.data[0]]
            if kind == GGUFValueType.STRING:
                return bytes(value).decode("utf-8")
            return value[0].item()
        except (IndexError, UnicodeDecodeError, ValueError) as exc:
            raise ExportError(f"{self.path}: metadata field {key} is corrupt ({_first_line(exc)})") from None


def _check_architecture(path: Path, architecture: str) -> None:
    """The architecture must be one edge-spec exports and transformers can dequantize (checked
    before any heavy work, so a wrong file is refused in a second, not after a minute)."""
    from edge_spec.export.architectures import SUPPORTED, supported_list

    hf_name = {"gemma3": "gemma3_text"}.get(architecture, architecture)  # llama.cpp's name -> transformers'
    if hf_name not in SUPPORTED:
        raise ExportError(f"{path}: GGUF architecture '{architecture}' is not supported; supported: {supported_list()}")
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:  # another transformers layout: its loader decides
        return
    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ExportError(
            f"{path}: this transformers cannot read '{architecture}' GGUF files; upgrade transformers, "
            "or export the original Hugging Face model directory"
        )


def _read_vocabulary(fields: _Fields, architecture: str) -> GGUFVocabulary:
    path = fields.path
    tokens = fields.get("tokenizer.ggml.tokens")
    model = fields.get("tokenizer.ggml.model")
    if not tokens or not isinstance(model, str):
        raise ExportError(
            f"{path}: the GGUF file has no tokenizer (tokenizer.ggml.model / tokens); "
            "export the original Hugging Face model directory instead"
        )
    types = fields.get("tokenizer.ggml.token_type") or [_NORMAL] * len(tokens)
    if len(types) != len(tokens):
        raise ExportError(f"{path}: {len(tokens)} tokens but {len(types)} token types; the file is corrupt")
    eos_id = fields.get("tokenizer.ggml.eos_token_id")
    extra = []
    for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        value = fields.get(key)
        if isinstance(value, int) and value != eos_id and 0 <= value < len(tokens):
            extra.append(value)
    add_bos = fields.get("tokenizer.ggml.add_bos_token")
    context = fields.get(f"{architecture}.context_length")
    return GGUFVocabulary(
        model=model,
        pre=str(fields.get("tokenizer.ggml.pre", "") or ""),
        tokens=tokens,
        token_types=[int(t) for t in types],
        merges=fields.get("tokenizer.ggml.merges") or [],
        bos_id=fields.get("tokenizer.ggml.bos_token_id"),
        eos_id=eos_id,
        unk_id=fields.get("tokenizer.ggml.unknown_token_id"),
        pad_id=fields.get("tokenizer.ggml.padding_token_id"),
        extra_eos_ids=extra,
        add_bos=bool(add_bos) if add_bos is not None else None,
        chat_template=fields.get("tokenizer.chat_template"),
        context_length=int(context) if isinstance(context, int) else None,
    )


# The tokenizer's arrays: a 49k-token BPE vocabulary with its merges is ~440k metadata parts.
_VOCABULARY_ARRAYS = (
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
)


def _without_vocabulary(reader, fields: _Fields, architecture: str, vocab_size: int, out_dir: Path) -> Path:  # noqa: ANN001
    """A copy of the GGUF without the tokenizer's arrays, for transformers to read config and
    weights from; the file itself when a field does not copy.

    transformers parses every metadata field of the file twice (once for the config, once for
    the weights), and the vocabulary is most of them: 5-7 s a parse on a 2-core laptop for
    SmolLM2's 49k tokens, while copying the weights' bytes takes well under a second. The
    vocabulary was read already, and a config without `<arch>.vocab_size` gets what transformers
    would have counted: the number of tokens.
    """
    from gguf import GGUFValueType, GGUFWriter

    path = fields.path
    light = out_dir / "weights-only.gguf"
    try:
        writer = GGUFWriter(str(light), arch=architecture, endianess=reader.endianess)
        for key, item in reader.fields.items():
            if key.startswith("GGUF.") or key == "general.architecture" or key in _VOCABULARY_ARRAYS:
                continue
            if key == "general.alignment":
                writer.data_alignment = int(fields.get(key))
            kind = item.types[0]
            sub = item.types[-1] if kind == GGUFValueType.ARRAY else None
            if sub == GGUFValueType.ARRAY:  # arrays of arrays: rare, and _Fields does not read them
                raise ValueError(f"{key} is an array of arrays")
            writer.add_key_value(key, fields.get(key), kind, sub_type=sub)
        if f"{architecture}.vocab_size" not in reader.fields:
            writer.add_key_value(f"{architecture}.vocab_size", vocab_size, GGUFValueType.UINT32)
        for tensor in reader.tensors:
            data = tensor.data
            writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            writer.write_tensor_data(tensor.data)
        writer.close()
    except Exception as exc:  # noqa: BLE001 (any gguf version's complaint: the whole file still works)
        log.info("%s: read whole by transformers (%s)", path.name, _first_line(exc))
        light.unlink(missing_ok=True)
        return path
    return light


# --- the tokenizer -----------------------------------------------------------------------------


def _write_tokenizer(path: Path, vocab: GGUFVocabulary, model_dir: Path) -> None:
    """Save the tokenizer files; byte-level BPE is rebuilt here, other models by transformers."""
    for index in (vocab.bos_id, vocab.eos_id, *vocab.extra_eos_ids):
        if index is not None and not 0 <= index < len(vocab.tokens):
            raise ExportError(f"{path}: special token id {index} is outside the vocabulary of {len(vocab.tokens)}")
    if vocab.model == "gpt2":
        tokenizer = _byte_level_bpe(path, vocab)
    else:
        tokenizer = _transformers_tokenizer(path, vocab)
    with quiet_transformers():
        tokenizer.save_pretrained(str(model_dir))
    # A class name every transformers version knows (newer ones write their backend's name).
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    if vocab.chat_template and not config.get("chat_template") and not (model_dir / "chat_template.jinja").is_file():
        config["chat_template"] = vocab.chat_template
    config_path.write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")


def _byte_level_bpe(path: Path, vocab: GGUFVocabulary):  # noqa: ANN202
    """The GGUF's byte-level BPE as a fast tokenizer that pre-tokenizes the way llama.cpp does."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    family = _FAMILIES.get(vocab.pre)
    if family is None:
        log.warning(
            "%s: pre-tokenizer '%s' is unknown to edge-spec; splitting text the GPT-2 way, which may "
            "tokenize some text differently from llama.cpp",
            path.name,
            vocab.pre,
        )
        family = _FAMILIES["gpt2"]
    ids: dict[str, int] = {}
    for index, text in enumerate(vocab.tokens):
        ids.setdefault(text, index)  # llama.cpp too maps a duplicated text to its first id
    merges = []
    for merge in vocab.merges:
        left, sep, right = merge.partition(" ")
        if not sep:
            raise ExportError(f"{path}: merge {merge!r} is not two tokens separated by a space; the file is corrupt")
        merges.append((left, right))
    try:
        bpe = models.BPE(vocab=ids, merges=merges, ignore_merges=family.ignore_merges)
    except Exception as exc:  # tokenizers rejects merges naming unknown tokens
        raise ExportError(f"{path}: the BPE vocabulary is inconsistent ({_first_line(exc)})") from None
    backend = Tokenizer(bpe)
    if family.splits:
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in family.splits]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    elif family.individual_digits:
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    # Control and unknown tokens are special (never split, matched whole in text); user-defined
    # ones are added tokens that are matched whole too but decode as ordinary text.
    special = [i for i, kind in enumerate(vocab.token_types) if kind in (_CONTROL, _UNKNOWN)]
    user = [i for i, kind in enumerate(vocab.token_types) if kind == _USER_DEFINED]
    backend.add_special_tokens([AddedToken(vocab.tokens[i], special=True, normalized=False) for i in special])
    backend.add_tokens([AddedToken(vocab.tokens[i], special=False, normalized=False) for i in user])
    add_bos = family.add_bos if vocab.add_bos is None else vocab.add_bos
    byte_level = processors.ByteLevel(trim_offsets=False)
    bos = vocab.token(vocab.bos_id)
    if add_bos and bos is not None:
        template = processors.TemplateProcessing(
            single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, vocab.bos_id)]
        )
        backend.post_processor = processors.Sequence([byte_level, template])
    else:
        backend.post_processor = byte_level
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=vocab.token(vocab.eos_id),
        unk_token=vocab.token(vocab.unk_id),
        pad_token=vocab.token(vocab.pad_id),
        model_max_length=vocab.context_length or int(1e30),
        chat_template=vocab.chat_template,
        clean_up_tokenization_spaces=False,
    )


def _transformers_tokenizer(path: Path, vocab: GGUFVocabulary):  # noqa: ANN202
    """Other tokenizer models (SentencePiece "llama", ...): transformers' own GGUF conversion."""
    from transformers import AutoTokenizer

    log.info("%s: tokenizer model '%s': using transformers' GGUF tokenizer conversion", path.name, vocab.model)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as exc:  # KeyError for unknown converters, ValueError, ...
        raise ExportError(
            f"{path}: transformers cannot rebuild its '{vocab.model}' tokenizer ({_first_line(exc)}); "
            "export the original Hugging Face model directory instead"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"{path}: its '{vocab.model}' tokenizer has no fast (tokenizer.json) form")
    # transformers' GGUF conversion has mixed up BOS and EOS in some versions: name them from the file.
    for attribute, index in (("bos_token", vocab.bos_id), ("eos_token", vocab.eos_id), ("pad_token", vocab.pad_id)):
        text = vocab.token(index)
        if text is not None:
            setattr(tokenizer, attribute, text)
    if vocab.chat_template:
        tokenizer.chat_template = vocab.chat_template
    return tokenizer


def check_tokenizer(model_dir: Path, vocab: GGUFVocabulary, gguf_file: Path) -> None:
    """The saved tokenizer, loaded the way a bundle loads it, must round-trip text and use the
    GGUF's special token ids; otherwise the export stops here with one line."""
    from transformers import AutoTokenizer

    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except Exception as exc:
        raise ExportError(
            f"{gguf_file}: the tokenizer rebuilt from its vocabulary cannot be loaded ({_first_line(exc)})"
        ) from None
    problem = tokenizer_problem(tokenizer, vocab)
    if problem:
        raise ExportError(
            f"{gguf_file}: the tokenizer rebuilt from its vocabulary is wrong: {problem}; "
            "export the original Hugging Face model directory instead"
        )
    log.info("%s: the rebuilt tokenizer round-trips the samples and uses the GGUF's special ids", gguf_file.name)


def tokenizer_problem(tokenizer, vocab: GGUFVocabulary) -> str | None:  # noqa: ANN001
    """What is wrong with TOKENIZER for VOCAB (None: nothing): round-trips and special ids."""
    samples = list(ROUND_TRIP_SAMPLES)
    bos, eos = vocab.token(vocab.bos_id), vocab.token(vocab.eos_id)
    chat = None
    if bos and eos and vocab.token_types[vocab.bos_id] == _CONTROL and vocab.token_types[vocab.eos_id] == _CONTROL:
        chat = f"{bos}user\nHello there!{eos}\n"
        if vocab.model == "gpt2":  # SentencePiece, like llama.cpp, puts a space after a special token
            samples.append(chat)
    for text in samples:
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if back != text:
            return f"decode(encode({text!r})) gives {back!r}"
        outside = [i for i in ids if not 0 <= i < len(vocab.tokens)]
        if outside:
            return f"encoding {text!r} gives ids outside the vocabulary: {outside[:5]}"
    if chat is not None:
        ids = list(tokenizer(chat, add_special_tokens=False)["input_ids"])
        if ids[:1] != [vocab.bos_id] or vocab.eos_id not in ids:
            return f"the special tokens in {chat!r} are not encoded whole (ids {ids[:8]}...)"
    for name, index, token_id in (
        ("BOS", vocab.bos_id, tokenizer.bos_token_id),
        ("EOS", vocab.eos_id, tokenizer.eos_token_id),
    ):
        if index is None:
            continue
        if token_id != index:
            return f"{name} token id is {token_id}, the GGUF says {index}"
        text = vocab.tokens[index]
        if vocab.token_types[index] == _CONTROL:
            got = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if got != [index]:
                return f"{name} token {text!r} encodes to {got}, not [{index}]"
    if vocab.bos_id is not None:
        first = list(tokenizer("Hello", add_special_tokens=True)["input_ids"])[:1]
        wants_bos = vocab.add_bos if vocab.add_bos is not None else _FAMILIES.get(vocab.pre, _FAMILIES["gpt2"]).add_bos
        if vocab.model == "gpt2" and (first == [vocab.bos_id]) != wants_bos:
            return f"BOS is {'not ' if wants_bos else ''}added to the prompt, unlike llama.cpp with this file"
    return None


# --- the weights -------------------------------------------------------------------------------


def _write_model(path: Path, vocab: GGUFVocabulary, model_dir: Path, weights_file: Path | None = None) -> None:
    """Dequantize with transformers and save fp32 safetensors, config and generation config.

    WEIGHTS_FILE (default PATH) is what transformers reads; errors name PATH, the user's file.
    """
    weights_file = weights_file or path
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from edge_spec.export.architectures import SUPPORTED, supported_list

    try:
        with quiet_transformers():
            loaded, info = AutoModelForCausalLM.from_pretrained(
                str(weights_file.parent), gguf_file=weights_file.name, dtype=torch.float32, output_loading_info=True
            )
    except Exception as exc:  # unknown quantization types, tensor-name mismatches, memory: one line each
        raise ExportError(
            f"{path}: transformers cannot dequantize it ({_first_line(exc)}); try a GGUF with another "
            "quantization (F16, Q8_0, Q4_K_M, ...) or export the original Hugging Face model directory"
        ) from None
    # transformers fills weights it did not find with random values and only warns: refuse instead.
    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys") or ())
    if missing or mismatched:
        what = f"missing {', '.join(missing[:3])}" if missing else f"wrong shape {', '.join(mismatched[:3])}"
        count = len(missing) + len(mismatched)
        raise ExportError(
            f"{path}: {count} weight(s) of the {_architecture_of(loaded)} model are not in the file as transformers "
            f"expects ({what}); the GGUF is incomplete or from a variant transformers does not map"
        )
    if info.get("unexpected_keys"):
        log.warning("%s: tensors transformers does not use: %s", path.name, sorted(info["unexpected_keys"])[:5])
    config = loaded.config
    if config.model_type not in SUPPORTED:
        raise ExportError(f"{path}: architecture '{config.model_type}' is not supported; supported: {supported_list()}")
    largest = max((len(vocab.tokens) - 1, vocab.bos_id or 0, vocab.eos_id or 0, *vocab.extra_eos_ids))
    if largest >= config.vocab_size:
        raise ExportError(
            f"{path}: the vocabulary has {len(vocab.tokens)} tokens but the embedding only {config.vocab_size} rows"
        )
    model = _plain_model(path, loaded)
    eos: int | list[int] | None = vocab.eos_id
    if vocab.extra_eos_ids:
        eos = [i for i in (vocab.eos_id, *vocab.extra_eos_ids) if i is not None]
    model.generation_config = GenerationConfig(bos_token_id=vocab.bos_id, eos_token_id=eos, pad_token_id=vocab.pad_id)
    model.eval()
    try:
        with quiet_transformers():
            model.save_pretrained(str(model_dir), safe_serialization=True)
    except OSError as exc:
        raise ExportError(f"{model_dir}: cannot write the dequantized model ({exc.strerror or exc})") from None


def _plain_model(path: Path, loaded):  # noqa: ANN001, ANN202
    """LOADED as a model save_pretrained accepts.

    transformers (some versions) marks a GGUF-loaded model as quantized and then refuses to save
    it: the dequantized weights are moved into a plain model of the same configuration.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = loaded.config
    if getattr(config, "quantization_config", None) is None and getattr(loaded, "hf_quantizer", None) is None:
        return loaded
    with contextlib.suppress(AttributeError):
        del config.quantization_config
    with quiet_transformers():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    del loaded
    try:
        model.load_state_dict(state, strict=True, assign=True)  # assign: no second copy of the weights
    except RuntimeError as exc:
        raise ExportError(
            f"{path}: the dequantized weights do not fit a {config.model_type} model ({_first_line(exc)})"
        ) from None
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    return model


# --- helpers -----------------------------------------------------------------------------------


def _architecture_of(model) -> str:  # noqa: ANN001
    return str(getattr(model.config, "model_type", type(model).__name__))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
