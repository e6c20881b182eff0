"""ChatSession: a conversation whose KV cache is kept between turns.

A new turn renders the whole conversation with the chat template, as a fresh generate would,
and feeds the target only what its cache does not already hold: the longest common prefix of
the cached tokens and the rendered ones stays, the rest is cut and the new tail prefilled. So a
turn costs its new message, and its answer is exactly what a fresh greedy generate on the full
conversation gives (even where re-tokenizing an earlier answer differs from what was generated:
the cache is then cut back to where they agree).

Without a chat template the session runs in plain completion mode: the conversation is one
text, each message appended to it, and the model continues it.

When the conversation outgrows the model's context, the overflow policy decides: "drop-oldest"
(the default) drops the oldest exchanges (the system prompt stays) until the new message fits
with room for an answer; "error" refuses the message with one line. A single message too long
for the context is refused either way.

A ChatSession drives its Pipeline's one KV cache: one session per pipeline, one thread at a time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_spec.errors import EdgeSpecError
from edge_spec.pipeline import GenerationConfig, GenerationResult, Pipeline

SAVE_FORMAT = "edge-spec-chat/1"
OVERFLOW_POLICIES = ("drop-oldest", "error")


@dataclass
class Turn:
    """One exchange, and the cache length before it (where /undo cuts back to)."""

    user: str
    answer: str
    cache_before: int
    result: GenerationResult | None = None


@dataclass
class ChatSession:
    pipeline: Pipeline
    system: str | None = None
    config: GenerationConfig = field(default_factory=GenerationConfig)
    turns: list[Turn] = field(default_factory=list)
    overflow: str = "drop-oldest"
    dropped_turns: int = 0  # exchanges dropped so far to fit the context
    _cached: list[int] = field(default_factory=list)  # the tokens whose K/V the cache holds

    def __post_init__(self) -> None:
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, got {self.overflow!r}")
        self.pipeline.session.reset()

    @property
    def completion_mode(self) -> bool:
        """True when the tokenizer has no chat template: the chat is one continued text."""
        return not self.pipeline.tokenizer.has_chat_template

    def messages(self, pending: str | None = None) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        for turn in self.turns:
            out += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.answer}]
        if pending is not None:
            out.append({"role": "user", "content": pending})
        return out

    def render(self, pending: str) -> list[int]:
        """The token ids a fresh generate would see for the conversation plus PENDING."""
        tok = self.pipeline.tokenizer
        if not self.completion_mode:
            return tok.apply_chat_template(self.messages(pending))
        parts = [self.system or ""] + [t.user + t.answer for t in self.turns] + [pending]
        return tok.encode("".join(parts))

    def send(
        self,
        text: str,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Answer TEXT. A cancelled answer is kept (as far as it went), with its KV."""
        if not text.strip():
            raise EdgeSpecError("the message is empty")
        full = self._fit(text)
        keep = _common_prefix(self._cached, full)
        keep = min(keep, len(full) - 1)  # at least one token must be fed to get logits
        session = self.pipeline.session
        before = session.length
        session.truncate(keep)
        self._cached = full[:keep]  # true even if the generation below fails
        result = self.pipeline.continue_cache(
            full[keep:], self.config, context=full[:keep], on_text=on_text, cancel=cancel
        )
        self._cached = full + result.tokens[:-1]
        eos = self.pipeline.tokenizer.eos_token_ids
        answer_tokens = [t for t in result.tokens if t not in eos]
        answer = self.pipeline.tokenizer.decode(answer_tokens)
        self.turns.append(Turn(user=text, answer=answer, cache_before=min(before, keep), result=result))
        return result

    def _fit(self, text: str) -> list[int]:
        """The rendered conversation plus TEXT, oldest exchanges dropped if the policy allows."""
        context = self.pipeline.manifest.target.max_positions
        answer_room = min(self.config.max_new_tokens, context // 4)
        full = self.render(text)
        while self.overflow == "drop-oldest" and self.turns and len(full) + answer_room > context:
            self.turns.pop(0)
            self.dropped_turns += 1
            full = self.render(text)
        if len(full) >= context:
            raise EdgeSpecError(
                f"the message makes the conversation {len(full)} tokens; this model's context is {context}"
                + ("; shorten it" if not self.turns else "; /reset or shorten it")
            )
        return full

    def undo(self) -> bool:
        """Drop the last exchange and its KV. False when there is nothing to undo."""
        if not self.turns:
            return False
        turn = self.turns.pop()
        self.pipeline.session.truncate(min(turn.cache_before, self.pipeline.session.length))
        self._cached = self._cached[: self.pipeline.session.length]
        return True

    def reset(self) -> None:
        """Forget the conversation (the system prompt stays)."""
        self.turns = []
        self._cached = []
        self.pipeline.session.reset()

    def save(self, path: str | Path) -> None:
        """Write the conversation as JSON (messages only: the cache is rebuilt on load)."""
        data = {
            "format": SAVE_FORMAT,
            "system": self.system,
            "turns": [{"user": t.user, "assistant": t.answer} for t in self.turns],
        }
        target = Path(path).expanduser()
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise EdgeSpecError(f"{target}: cannot write ({exc.strerror})") from None

    def load(self, path: str | Path) -> None:
        """Replace the conversation by one saved with save(); the next turn prefills it."""
        source = Path(path).expanduser()
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            if data.get("format") != SAVE_FORMAT:
                raise ValueError(f"not a {SAVE_FORMAT} file")
            turns = [Turn(user=str(t["user"]), answer=str(t["assistant"]), cache_before=0) for t in data["turns"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EdgeSpecError(f"{source}: not a saved chat ({exc}); save one with /save FILE") from None
        self.reset()
        self.system = data.get("system")
        self.turns = turns


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
