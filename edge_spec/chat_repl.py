"""The terminal side of `edge-spec chat`: read a line, stream the answer, handle slash commands.

Ctrl-C during an answer stops it (what was shown stays in the conversation, with its KV) and
the chat goes on; Ctrl-C at the prompt says how to leave; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from rich.console import Console

from edge_spec.chat import ChatSession
from edge_spec.drafters import DRAFTERS
from edge_spec.errors import EdgeSpecError

HELP = """commands:
  /reset          forget the conversation (the system prompt stays)
  /undo           drop the last exchange and its KV cache
  /stats          figures of the last answer
  /drafter NAME   switch drafter ({drafters})
  /save FILE      save the conversation as JSON;  /load FILE  load one
  /help           this text;  /exit (or Ctrl-D)  leave
Ctrl-C stops an answer; the chat goes on."""


def run_chat(chat: ChatSession, console: Console, read: Callable[[str], str] = input) -> None:
    """The read-answer loop, until /exit or end of input."""
    pipe = chat.pipeline
    if chat.completion_mode:
        console.print("[yellow]this model has no chat template: plain completion mode (the chat is one text)[/]")
    console.print(f"[dim]edge-spec chat · {pipe.root.name} · drafter {pipe.drafter.name} · /help for commands[/]")
    while True:
        try:
            line = read(">>> ")
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print("\n[dim]use Ctrl-D or /exit to leave[/]")
            continue
        except UnicodeDecodeError:
            line = "\udcff"  # reported below, like undecodable bytes the terminal let through
        if not _is_utf8(line):
            console.print("[red]error:[/] the input is not valid UTF-8; type it again", highlight=False)
            continue
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if _command(chat, line, console) == "exit":
                return
            continue
        _answer(chat, line, console)


def _is_utf8(text: str) -> bool:
    """False when TEXT carries undecodable bytes (surrogate escapes from a non-UTF-8 terminal)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _answer(chat: ChatSession, text: str, console: Console) -> None:
    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    dropped = chat.dropped_turns
    try:
        result = chat.send(text, on_text=show, cancel=cancel)
    except EdgeSpecError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.stdout.write("\n")
    if chat.dropped_turns > dropped:
        console.print(f"[dim](the {chat.dropped_turns - dropped} oldest exchanges were dropped to fit the context)[/]")
    if result.stats.stop_reason == "cancelled":
        console.print("[dim](stopped)[/]", highlight=False)
    console.print(f"[dim]{_summary(chat)}[/]", highlight=False)


def _summary(chat: ChatSession) -> str:
    """One line: speed, tau, a speedup estimate and which drafter tiers were accepted."""
    s = chat.turns[-1].result.stats  # type: ignore[union-attr]
    line = f"{s.new_tokens} tokens · {s.decode_tokens_per_s:.1f} tok/s · TTFT {s.ttft_s * 1000:.0f} ms"
    if s.drafter != "none":
        line += f" · tau {s.tau:.2f}"
        planner = chat.pipeline._planner
        if planner is not None and s.tpot_s > 0:
            # plain decoding would take about one single-token pass per token
            line += f" · ~{float(planner.cost(1)) / s.tpot_s:.2f}x plain"
        accepted = {src.split(":")[0]: 0 for src in s.tier_hits}
        for src, (_, hits) in s.tier_hits.items():
            accepted[src.split(":")[0]] += hits
        total = sum(accepted.values())
        if total:
            line += " · " + ", ".join(f"{tier} {n / total:.0%}" for tier, n in accepted.items())
    return line


def _command(chat: ChatSession, line: str, console: Console) -> str:
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    try:
        if name in ("/exit", "/quit", "/bye"):
            return "exit"
        if name == "/help":
            console.print(HELP.format(drafters=", ".join(DRAFTERS)), highlight=False)
        elif name == "/reset":
            chat.reset()
            console.print("[dim]conversation cleared[/]")
        elif name == "/undo":
            console.print("[dim]last exchange dropped[/]" if chat.undo() else "[dim]nothing to undo[/]")
        elif name == "/stats":
            if not chat.turns or chat.turns[-1].result is None:
                console.print("[dim]no answer yet[/]")
            else:
                stats = chat.turns[-1].result.stats
                for key, value in stats.to_dict().items():
                    console.print(f"  {key:20s} {value}", highlight=False)
        elif name == "/drafter":
            chat.pipeline.set_drafter(arg)
            console.print(f"[dim]drafter {arg}[/]")
        elif name == "/save":
            chat.save(_need(arg, "/save FILE"))
            console.print(f"[dim]saved to {arg}[/]")
        elif name == "/load":
            chat.load(_need(arg, "/load FILE"))
            console.print(f"[dim]loaded {len(chat.turns)} exchanges from {arg}[/]")
        else:
            console.print(f"[red]error:[/] unknown command {name}; /help lists them")
    except EdgeSpecError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
    return ""


def _need(arg: str, usage: str) -> str:
    if not arg:
        raise EdgeSpecError(f"usage: {usage}")
    return arg
