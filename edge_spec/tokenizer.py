"""The bundle's tokenizer: text <-> ids, EOS ids and the chat template."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge_spec.errors import BundleError

log = logging.getLogger(__name__)


class BundleTokenizer:
    """A thin layer over the fast tokenizer copied into the bundle at export time."""

    def __init__(self, directory: Path):
        from transformers import AutoTokenizer

        try:
            self.hf = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise BundleError(f"{directory}: the tokenizer cannot be loaded ({exc}); re-export") from None
        self.eos_token_ids = frozenset(self._eos_ids(directory))

    def _eos_ids(self, directory: Path) -> set[int]:
        ids: set[int] = set()
        if self.hf.eos_token_id is not None:
            ids.add(int(self.hf.eos_token_id))
        gen = directory / "generation_config.json"
        if gen.is_file():
            try:
                value: Any = json.loads(gen.read_text()).get("eos_token_id")
            except ValueError:
                value = None
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list):
                ids.update(int(v) for v in value)
        return ids

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.hf, "chat_template", None))

    def encode(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=True)["input_ids"])

    def decode(self, ids: Any) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def apply_chat_template(self, messages: list[dict[str, str]]) -> list[int]:
        if not self.has_chat_template:
            raise BundleError("this bundle's tokenizer has no chat template; pass plain text instead")
        out = self.hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(out, dict) or hasattr(out, "keys"):
            out = out["input_ids"]
        return [int(t) for t in out]
