"""The library's front door: load a bundle, generate text.

    pipe = Pipeline.load("bundle", backend="openvino", device="CPU")
    result = pipe.generate("def fib(n):", max_new_tokens=64)
    print(result.text, result.stats.tokens_per_s)

A Pipeline owns one target session (and its KV cache): use it from one thread at a time.
With a drafter ("ngram", or "auto" for the best the bundle offers) generation runs the
speculative loop (engine/speculative.py); the output is the same greedy text, sooner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge_spec.bundle import load_manifest
from edge_spec.drafters import DraftRuntime, make_drafter
from edge_spec.drafters.base import Drafter
from edge_spec.engine.generate import StopRule, greedy_decode
from edge_spec.engine.planner import DraftPlanner
from edge_spec.engine.speculative import speculative_decode
from edge_spec.engine.stats import GenerationStats
from edge_spec.engine.streaming import TextStream
from edge_spec.engine.verify_cost import verify_cost
from edge_spec.errors import EdgeSpecError
from edge_spec.runtimes import open_target
from edge_spec.tokenizer import BundleTokenizer

log = logging.getLogger(__name__)


@dataclass
class GenerationConfig:
    """How to generate. Invalid values raise at construction, naming the field."""

    max_new_tokens: int = 256
    stop_strings: tuple[str, ...] = ()
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        self.stop_strings = tuple(self.stop_strings)
        if any(not s for s in self.stop_strings):
            raise ValueError("stop_strings must not contain an empty string")


@dataclass
class GenerationResult:
    text: str
    tokens: list[int]
    stats: GenerationStats
    top2_margins: list[float] = field(default_factory=list)
    top1_logits: list[float] = field(default_factory=list)


class Pipeline:
    """A loaded bundle: tokenizer + target session (+ drafters)."""

    def __init__(
        self,
        root: Path,
        manifest,  # noqa: ANN001
        tokenizer: BundleTokenizer,
        session,  # noqa: ANN001
        drafter: Drafter,
        drafter_options: dict | None = None,
    ):
        self.root = root
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.session = session
        self.drafter = drafter
        self._planner: DraftPlanner | None = None
        self._drafter_options = drafter_options or {}

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        backend: str = "openvino",
        device: str = "CPU",
        drafter: str = "none",
        exact: bool = False,
        numerics: str = "auto",
        static_db: str | Path | None = None,
        model_db: str | Path | None = "auto",
        learn: bool = True,
        draft_device: str | None = None,
    ) -> Pipeline:
        """Validate the bundle, then compile its target for BACKEND on DEVICE.

        exact=True: f32 compute everywhere (greedy output equals plain decoding token for
        token); the default picks the device's fastest numerics, measured once and cached.
        numerics ("default" or "f32") fixes the precision hint instead, for benchmarks.
        The n-gram drafter's databases: static_db (default: BUNDLE/ngram/static.esng when it
        exists), model_db ("auto": next to the bundle, or in the cache when the bundle is
        read-only; None: off) which learns from the outputs when learn is true.
        The draft model ("draft", or "auto" when the bundle has one) runs on draft_device
        (default: DEVICE) with the same backend and numerics.
        """
        root, manifest = load_manifest(bundle)
        tokenizer = BundleTokenizer(root / manifest.tokenizer["dir"])
        runtime = DraftRuntime(backend, draft_device or device, "exact" if exact else numerics)
        options = {"static_db": static_db, "model_db": model_db, "learn": learn, "runtime": runtime}
        chosen = make_drafter(drafter, root, manifest, **options)
        session = open_target(root, manifest, backend, device, "exact" if exact else numerics)
        log.info("loaded %s on %s/%s (%s), drafter %s", root, backend, device, session.numerics, chosen.name)
        return cls(root, manifest, tokenizer, session, chosen, options)

    def set_drafter(self, name: str) -> None:
        """Switch drafter (same database options as at load); the old one saves what it learned."""
        chosen = make_drafter(name, self.root, self.manifest, **self._drafter_options)
        self.drafter.close()
        self.drafter = chosen

    def chat(  # noqa: ANN201
        self, system: str | None = None, config: GenerationConfig | None = None, overflow: str = "drop-oldest"
    ):
        """A ChatSession on this pipeline (it keeps the conversation's KV cache between turns).

        overflow: what a turn that outgrows the context does ("drop-oldest" exchanges, or "error").
        """
        from edge_spec.chat import ChatSession

        return ChatSession(self, system=system, config=config or GenerationConfig(), overflow=overflow)

    def close(self) -> None:
        """Let the drafter persist what it learned (the model n-gram DB). Safe to call twice."""
        self.drafter.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def planner(self) -> DraftPlanner:
        """The draft planner, with this device's verify-cost curve (measured on first use)."""
        if self._planner is None:
            identity = "|".join(
                [
                    str(self.root.resolve()),
                    self.manifest.files_digest(),
                    self.session.backend,
                    self.session.kv_layout,
                    self.session.device,
                    self.session.numerics,
                ]
            )
            self._planner = DraftPlanner(verify_cost(self.session, identity))
        return self._planner

    def encode(self, prompt: str | list[int] | list[dict[str, str]]) -> list[int]:
        """Text -> ids; a list of {"role", "content"} messages goes through the chat template."""
        if isinstance(prompt, str):
            ids = self.tokenizer.encode(prompt)
        elif prompt and all(isinstance(m, dict) for m in prompt):
            ids = self.tokenizer.apply_chat_template(prompt)  # type: ignore[arg-type]
        else:
            ids = [int(t) for t in prompt]  # type: ignore[union-attr]
        if not ids:
            raise EdgeSpecError("the prompt is empty")
        limit = self.manifest.target.max_positions
        if len(ids) >= limit:
            raise EdgeSpecError(f"the prompt has {len(ids)} tokens; this model's context is {limit}")
        return ids

    def generate(
        self,
        prompt: str | list[int] | list[dict[str, str]],
        config: GenerationConfig | None = None,
        *,
        max_new_tokens: int | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        record_margins: bool = False,
    ) -> GenerationResult:
        """Generate a continuation of PROMPT from a fresh cache (greedy)."""
        if config is None:
            config = GenerationConfig(max_new_tokens=max_new_tokens or GenerationConfig.max_new_tokens)
        elif max_new_tokens is not None:
            config = GenerationConfig(max_new_tokens, config.stop_strings, config.ignore_eos)
        ids = self.encode(prompt)
        self.session.reset()
        return self.continue_cache(ids, config, on_text=on_text, cancel=cancel, record_margins=record_margins)

    def continue_cache(
        self,
        ids: list[int],
        config: GenerationConfig,
        *,
        context: list[int] | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        record_margins: bool = False,
    ) -> GenerationResult:
        """Feed IDS after what the session's cache already holds, then generate (greedy).

        CONTEXT: the tokens already in the cache, for the drafter's context tier (a chat's
        earlier turns). Afterwards the cache holds IDS and every emitted token but the last.
        """
        room = self.manifest.target.max_positions - self.session.length - len(ids)
        if room <= 0:
            raise EdgeSpecError(
                f"{self.session.length + len(ids)} tokens do not fit this model's context of "
                f"{self.manifest.target.max_positions}; start over (a new chat, /reset) or shorten the prompt"
            )
        rule = StopRule(
            max_new_tokens=min(config.max_new_tokens, room),
            eos_token_ids=frozenset() if config.ignore_eos else self.tokenizer.eos_token_ids,
            stop_strings=config.stop_strings,
            cancel=cancel,
        )
        stream = TextStream(self.tokenizer.decode)
        hidden = rule.eos_token_ids  # an end-of-sequence token ends the text; it is not part of it

        def on_tokens(new: list[int]) -> str:
            delta = stream.push([t for t in new if t not in hidden])
            if delta and on_text:
                on_text(delta)
            return stream.text

        # Text is decoded as tokens come only when someone reads it: a streaming caller, or stop
        # strings to look for (two tokenizer calls per step, ~1% of a 135M model's decode step).
        sink = on_tokens if on_text or rule.stop_strings else None
        if self.drafter.name == "none":
            result = greedy_decode(self.session, ids, rule, sink, record_margins=record_margins)
        else:
            planner = self.planner()
            result = speculative_decode(self.session, self.drafter, planner, ids, rule, sink, context=context)
        tail = stream.flush()
        if tail and on_text:
            on_text(tail)
        result.stats.numerics = self.session.numerics
        text = self.tokenizer.decode([t for t in result.tokens if t not in hidden])
        return GenerationResult(
            text=text,
            tokens=result.tokens,
            stats=result.stats,
            top2_margins=result.top2_margins,
            top1_logits=result.top1_logits,
        )

    def stream(
        self, prompt: str | list[int] | list[dict[str, str]], config: GenerationConfig | None = None
    ) -> Iterator[str]:
        """Yield text pieces as they are produced (runs generate on a worker thread)."""
        import queue

        pieces: queue.Queue = queue.Queue()
        done = object()
        cancel = threading.Event()
        error: list[BaseException] = []

        def work() -> None:
            try:
                self.generate(prompt, config, on_text=pieces.put, cancel=cancel)
            except BaseException as exc:  # re-raised in the caller's thread
                error.append(exc)
            finally:
                pieces.put(done)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while (piece := pieces.get()) is not done:
                yield piece
        finally:
            cancel.set()
            worker.join()
        if error:
            raise error[0]
