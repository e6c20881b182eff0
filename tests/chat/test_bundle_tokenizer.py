"""The runtime's tokenizer (tokenizers + jinja2, no transformers import) against transformers' own:
the same ids, text, EOS ids and chat-template ids, on the bench tokenizer as a bundle carries it
and on a tokenizer that adds a BOS token and keeps its template in tokenizer_config.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_spec.errors import BundleError
from edge_spec.tokenizer import BundleTokenizer

TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n\treturn fibonacci(n - 1)\n",
    "héllo wörld — naïve café; 日本語, Привет 🚀👩‍💻",
    "  leading spaces, <|im_start|> a special token inside, and <|im_end|>\n\n",
    "",
)
CHATS = (
    [{"role": "user", "content": "Name a striped animal."}],
    [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Rayleigh scattering."},
        {"role": "user", "content": "And at sunset? 🌅"},
    ],
)
# a template in the style of Llama's: BOS from the tokenizer's specials, a check that raises,
# tojson, and transformers' {% generation %} block
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}"
    "[{{ m['role'] | upper }}] {% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}"
    "{% endgeneration %}{% else %}{{ m['content'] | tojson }}{% endif %}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}[ASSISTANT] {% endif %}"
)


@pytest.fixture(scope="module")
def bos_tokenizer(zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """The bench tokenizer with a post-processor that adds BOS, saved by transformers."""
    from tokenizers import processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    base = AutoTokenizer.from_pretrained(str(zoo.bundle("llama") / "tokenizer"))
    backend = base.backend_tokenizer
    bos = "<|im_start|>"
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, backend.token_to_id(bos))]
    )
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token="<|im_end|>")
    wrapped.chat_template = TEMPLATE
    out = tmp_path_factory.mktemp("bos-tokenizer")
    wrapped.save_pretrained(str(out))
    (out / "chat_template.jinja").unlink(missing_ok=True)  # keep it in tokenizer_config.json
    config = json.loads((out / "tokenizer_config.json").read_text())
    config["chat_template"] = TEMPLATE
    config["eos_token"] = {  # the AddedToken form
        "__type": "AddedToken",
        "content": "<|im_end|>",
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "single_word": False,
        "special": True,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config))
    return out


def _directories(zoo, bos_tokenizer: Path) -> list[Path]:  # noqa: ANN001
    return [zoo.bundle("llama") / "tokenizer", bos_tokenizer]


def test_ids_text_and_eos_are_transformers(zoo, bos_tokenizer: Path) -> None:  # noqa: ANN001
    from transformers import AutoTokenizer

    for directory in _directories(zoo, bos_tokenizer):
        ours, theirs = BundleTokenizer(directory), AutoTokenizer.from_pretrained(str(directory))
        for text in TEXTS:
            ids = ours.encode(text)
            assert ids == list(theirs(text, add_special_tokens=True)["input_ids"]), (directory, text)
            assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert theirs.eos_token_id in ours.eos_token_ids
    assert BundleTokenizer(bos_tokenizer).encode("hi")[0] == BundleTokenizer(bos_tokenizer).fast.token_to_id(
        "<|im_start|>"
    )


def test_chat_template_ids_are_transformers(zoo, bos_tokenizer: Path) -> None:  # noqa: ANN001
    from transformers import AutoTokenizer

    for directory in _directories(zoo, bos_tokenizer):
        ours, theirs = BundleTokenizer(directory), AutoTokenizer.from_pretrained(str(directory))
        assert ours.has_chat_template
        for chat in CHATS:
            want = theirs.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
            if isinstance(want, dict) or hasattr(want, "keys"):
                want = want["input_ids"]
            assert ours.apply_chat_template(chat) == list(want), (directory, chat)
    with pytest.raises(Exception, match="bad role"):
        BundleTokenizer(bos_tokenizer).apply_chat_template([{"role": "tool", "content": "x"}])


def test_no_template_and_a_broken_tokenizer_are_one_line(tmp_path: Path, zoo) -> None:  # noqa: ANN001
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "tokenizer.json").write_bytes((zoo.bundle("llama") / "tokenizer" / "tokenizer.json").read_bytes())
    tokenizer = BundleTokenizer(plain)
    assert not tokenizer.has_chat_template and tokenizer.encode("hi")
    with pytest.raises(BundleError, match="no chat template"):
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}])
    (plain / "tokenizer.json").write_text("{not json")
    with pytest.raises(BundleError) as info:
        BundleTokenizer(plain)
    assert "\n" not in str(info.value) and "re-export" in str(info.value)


def test_loading_a_pipeline_does_not_import_torch_or_transformers(zoo) -> None:  # noqa: ANN001
    """The runtime's start: neither import happens for a bundle's first generation."""
    code = (
        "import sys\nfrom edge_spec import Pipeline\n"
        f"pipe = Pipeline.load({str(zoo.bundle('llama'))!r}, exact=True, drafter='ngram', model_db=None)\n"
        "pipe.generate([{'role': 'user', 'content': 'hi'}], max_new_tokens=4)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
