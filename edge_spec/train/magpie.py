"""Magpie-style chat data: the target writes the user's question itself, then answers it.

Given only what its chat template puts before a user message (plus the system prompt the
template adds by default), an instruction-tuned model continues with a plausible user question;
sent back through the template, the model answers it. No outside instruction data is needed.

The pieces of the template are found generically: render a conversation holding one sentinel
user message, cut before the sentinel (everything the template emits first), and what follows
the sentinel closes a turn; the last turn-closer before the sentinel separates a default system
prompt (the preamble) from the opener of the user turn. For ChatML that is preamble
"<|im_start|>system\\n...<|im_end|>\\n", user prefix "<|im_start|>user\\n", end of turn "<|im_end|>\\n".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SENTINEL = "FASTDRAFTSENTINEL7319"


@dataclass(frozen=True)
class ChatPrefix:
    """The chat template's text around a user message."""

    preamble: str  # what comes before the first user turn (a default system prompt), may be ""
    user_prefix: str  # what opens a user turn, e.g. "<|im_start|>user\n"
    end_of_turn: str  # what closes a turn, e.g. "<|im_end|>\n"

    @property
    def question_prompt(self) -> str:
        """The text the target continues to write a user question."""
        return self.preamble + self.user_prefix


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def chat_prefix(tokenizer: Any) -> ChatPrefix | None:
    """TOKENIZER's chat template split around a user message; None without a usable template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    try:
        text = render(tokenizer, [{"role": "user", "content": SENTINEL}], add_generation_prompt=False)
    except Exception as exc:  # a template may raise anything (jinja errors, its own raise_exception)
        log.warning("the chat template cannot render a user message (%s); no chat data", exc)
        return None
    where = text.find(SENTINEL)
    if where < 0:
        log.warning("the chat template drops the user's message; no chat data")
        return None
    before, after = text[:where], text[where + len(SENTINEL) :]
    marker = after.strip()
    cut = before.rfind(marker) if marker else -1
    if cut < 0:
        return ChatPrefix(preamble="", user_prefix=before, end_of_turn=after)
    end = cut + len(after) if before.startswith(after, cut) else cut + len(marker)
    return ChatPrefix(preamble=before[:end], user_prefix=before[end:], end_of_turn=after)


def stop_token_ids(tokenizer: Any, prefix: ChatPrefix | None, eos_ids: list[int]) -> list[int]:
    """EOS ids plus the token that closes a chat turn, when that is a single token."""
    ids = list(dict.fromkeys(eos_ids))
    if prefix is not None and prefix.end_of_turn.strip():
        marker = tokenizer.encode(prefix.end_of_turn.strip(), add_special_tokens=False)
        if len(marker) == 1 and marker[0] not in ids:
            ids.append(marker[0])
    return ids
