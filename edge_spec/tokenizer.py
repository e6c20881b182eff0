"""The bundle's tokenizer: text <-> ids, EOS ids and the chat template.

It runs the bundle's tokenizer.json with the `tokenizers` library and its chat template with
jinja2, the way transformers' fast tokenizers do, without importing transformers: that import
pulls in torch, 5-9 s at every start of `edge-spec generate`, `chat` or `bench` on a 2-core
laptop, for nothing the runtime needs. tests/chat/test_bundle_tokenizer.py holds it to
transformers' own results.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_spec.errors import BundleError

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")


class BundleTokenizer:
    """A thin layer over the fast tokenizer copied into the bundle at export time."""

    def __init__(self, directory: Path):
        from tokenizers import Tokenizer

        directory = Path(directory)
        try:
            self.fast = Tokenizer.from_file(str(directory / "tokenizer.json"))
            config = _read_json(directory / "tokenizer_config.json")
        except Exception as exc:  # noqa: BLE001 (tokenizers raises its own Exception subclass)
            raise BundleError(f"{directory}: the tokenizer cannot be loaded ({exc}); re-export") from None
        # the special tokens the template may name, as text (absent ones left out, as transformers does)
        self.special = {name: text for name in SPECIAL_TOKENS if (text := _token_text(config.get(name))) is not None}
        self.chat_template = _chat_template(directory, config)
        self._template = None  # compiled on first use
        self.eos_token_ids = frozenset(self._eos_ids(directory))

    def _eos_ids(self, directory: Path) -> set[int]:
        ids: set[int] = set()
        eos = self.fast.token_to_id(self.special.get("eos_token", ""))
        if eos is not None:
            ids.add(int(eos))
        value: Any = _read_json(directory / "generation_config.json").get("eos_token_id")
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(int(v) for v in value)
        return ids

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.fast.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Any) -> str:
        return self.fast.decode([int(i) for i in ids], skip_special_tokens=False)

    def apply_chat_template(self, messages: list[dict[str, str]]) -> list[int]:
        """MESSAGES through the chat template, ending with the assistant's turn opened, as ids."""
        if not self.has_chat_template:
            raise BundleError("this bundle's tokenizer has no chat template; pass plain text instead")
        if self._template is None:
            self._template = _compile(self.chat_template)
        text = self._template.render(
            messages=messages, tools=None, documents=None, add_generation_prompt=True, **self.special
        )
        # the template writes the special tokens itself, so none are added (as transformers does)
        return self.encode(text, add_special_tokens=False)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not readable JSON ({exc}); re-export the bundle") from None
    return value if isinstance(value, dict) else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(directory: Path, config: dict) -> str | None:
    """The template transformers would use: chat_template.jinja, else tokenizer_config's (the
    one named "default" when it holds several)."""
    jinja_file = directory / "chat_template.jinja"
    if jinja_file.is_file():
        return jinja_file.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template else None


def _compile(template: str) -> Any:
    """TEMPLATE in the environment transformers renders chat templates in."""
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """`{% generation %}...{% endgeneration %}` marks the assistant's text for training masks
        in transformers; rendering keeps what is inside."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
    ) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template)
    except jinja2.exceptions.TemplateError as exc:
        raise BundleError(f"the bundle's chat template does not compile ({exc}); re-export") from None
