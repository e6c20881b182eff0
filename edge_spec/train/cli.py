"""`edge-spec train ...`: a typer sub-app (registered by edge_spec/cli.py as `train`).

The CLI owns the terminal: rich progress bars per stage and the acceptance table at the end. Bad
input is one line on stderr and exit code 2; Ctrl-C saves a checkpoint and exits 130.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from edge_spec.cli_errors import err, user_errors
from edge_spec.train.progress import ProgressCallbacks
from edge_spec.train.run_control import TrainingInterrupted

train_app = typer.Typer(
    name="train",
    help="Train draft models for a target LM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()


@train_app.callback()
def train_group() -> None:
    """Train draft models for a target LM (`train fastdraft`), or write its chat text (`train chat-corpus`)."""


# options every `train` command shares
TargetOption = Annotated[Path, typer.Option("--target", help="The target: a Hugging Face causal LM directory.")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="torch threads (default $EDGE_SPEC_THREADS).")]

STAGE_LABELS = {
    "scan": "corpus scan",
    "pretrain": "pre-training",
    "generate": "target writes",
    "evaluate": "evaluation",
    "label": "target labels",
    "distill": "distillation",
    "align": "alignment",
    "save": "saving",
}


def train_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """edge_spec.cli_errors.user_errors, plus: an interrupted run says how to resume (exit 130)."""

    @user_errors
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrainingInterrupted as exc:
            err.print(f"{exc}; run the same command with --resume to continue", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper


class RichProgress(ProgressCallbacks):
    """One rich progress bar per stage, with the loss and tokens/s of training stages."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def stage_started(self, stage: str, total: int | None, done: int = 0, description: str = "") -> None:
        label = STAGE_LABELS.get(stage, stage)
        if stage in self.tasks:
            self.progress.remove_task(self.tasks[stage])
        self.tasks[stage] = self.progress.add_task(label, total=total, completed=done, info=description)

    def advanced(self, stage: str, done: int, info: dict[str, Any] | None = None) -> None:
        if stage not in self.tasks:
            return
        text = None
        if info and "loss" in info:
            text = f"loss {info['smoothed_loss']:.3f}  {info['mean_tokens_per_s']:.0f} tokens/s"
        elif info and "samples" in info:
            text = f"{info['samples']} samples kept"
        elif info and "labelled_tokens_per_s" in info:
            text = f"{info['labelled_tokens_per_s']:.0f} tokens/s"
        self.progress.update(self.tasks[stage], completed=done, **({"info": text} if text else {}))

    def stage_finished(self, stage: str, info: dict[str, Any] | None = None) -> None:
        if stage in self.tasks:
            self.progress.stop_task(self.tasks[stage])


def _progress_bars() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
    )


EVALUATION_COLUMNS = (
    ("before", "before alignment"),
    ("after_distill", "after distillation"),
    ("after", "after alignment"),
)


def acceptance_table(report: dict[str, Any]) -> Table:
    """Agreement and tau per chain length at each evaluation, overall and per kind of prompt.

    The after-distillation column appears only for runs that had the stage.
    """
    columns = [(key, title) for key, title in EVALUATION_COLUMNS if key != "after_distill" or key in report]
    results = [report.get(key) or {} for key, _ in columns]
    table = Table(title="acceptance on held-out data (greedy, target-written)")
    table.add_column("prompts")
    table.add_column("metric")
    for _, title in columns:
        table.add_column(title, justify="right")
    groups = [("all", results)]
    for kind in sorted(set().union(*(r.get("by_kind", {}) for r in results))):
        groups.append((kind, [r.get("by_kind", {}).get(kind, {}) for r in results]))
    for name, figures in groups:
        samples = next((f["samples"] for f in reversed(figures) if "samples" in f), 0)
        table.add_row(f"{name} ({samples})", "agreement", *(_fmt(f.get("agreement")) for f in figures))
        for key in next((f["tau"] for f in figures if f.get("tau")), {}):
            table.add_row("", f"tau k={key[1:]}", *(_fmt((f.get("tau") or {}).get(key)) for f in figures))
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@train_app.command()
@train_errors
def fastdraft(
    target: TargetOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="DRAFT_DIR: where the draft, data and checkpoints go.")
    ],
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            "--corpus",
            metavar="PATH",
            help="Text/code files or folders (repeat). Default: the Python stdlib's .py files.",
        ),
    ] = None,
    layers: Annotated[
        int | None, typer.Option("--layers", help="Draft layers (default: sized from the target).")
    ] = None,
    hidden: Annotated[
        int | None, typer.Option("--hidden", help="Draft hidden size (default: sized from the target).")
    ] = None,
    pretrain_tokens: Annotated[int, typer.Option("--pretrain-tokens", help="Tokens of pre-training.")] = 2_000_000,
    align_samples: Annotated[
        int, typer.Option("--align-samples", help="Samples the target writes for alignment.")
    ] = 1024,
    align_epochs: Annotated[float, typer.Option("--align-epochs", help="Passes over the alignment samples.")] = 2.0,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Pre-training sequence length.")] = 256,
    batch: Annotated[int, typer.Option("--batch", help="Sequences per training step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (alignment uses half).")] = 1e-3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, data order and sampling.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run checkpointed in DRAFT_DIR.")] = False,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Stop with a checkpoint after this much wall time.")
    ] = None,
    skip_heldout: Annotated[
        bool,
        typer.Option("--skip-heldout/--no-skip-heldout", help="Never train on the benchmark's held-out files."),
    ] = True,
    threads: ThreadsOption = None,
    head_vocab: Annotated[
        int | None,
        typer.Option(
            "--head-vocab",
            metavar="N",
            help="Draft vocabulary: the target's N most frequent tokens (0: all of them; "
            "default 8192 for vocabularies over 16384, else 0).",
        ),
    ] = None,
    distill_tokens: Annotated[
        int,
        typer.Option(
            "--distill-tokens",
            metavar="N",
            help="Before alignment, distil the target's greedy next token on N corpus tokens it labels (0: off).",
        ),
    ] = 0,
    distill_epochs: Annotated[
        float, typer.Option("--distill-epochs", metavar="F", help="Passes over the target-labelled tokens.")
    ] = 2.0,
) -> None:
    """Pre-train a small draft with the target's tokenizer, then align it on text the target writes."""
    from transformers.utils import logging as transformers_logging

    from edge_spec.train.fastdraft import FastDraftConfig, train_fastdraft

    transformers_logging.disable_progress_bar()  # our bars only
    config = FastDraftConfig(
        target=target,
        output=output,
        corpus=list(corpus or []),
        layers=layers,
        hidden=hidden,
        pretrain_tokens=pretrain_tokens,
        align_samples=align_samples,
        align_epochs=align_epochs,
        seq_len=seq_len,
        batch=batch,
        lr=lr,
        seed=seed,
        resume=resume,
        max_minutes=max_minutes,
        skip_heldout=skip_heldout,
        threads=threads,
        head_vocab=head_vocab,
        distill_tokens=distill_tokens,
        distill_epochs=distill_epochs,
    )
    with _progress_bars() as bars:
        result = train_fastdraft(config, RichProgress(bars))
    if not result.finished:
        out.print(
            f"stopped ({result.stop_reason}) in {result.stage} at step {result.step}; checkpoint in "
            f"{result.output / 'checkpoint'}; run the same command with --resume to continue",
            highlight=False,
        )
        return
    if result.report:
        out.print(acceptance_table(result.report))
    draft = result.draft
    line = f"draft: {draft.get('layers')} layers, hidden {draft.get('hidden')}"
    head = (result.recipe or {}).get("head_vocab") or {}
    if head.get("size"):
        line += f", head vocabulary {head['size']} ({head['coverage']:.1%} of training tokens)"
    if result.cost:
        line += f"; cost per token {result.cost['ratio']:.3f} of the target's ({result.cost['draft_ms']:.2f} ms vs "
        line += f"{result.cost['target_ms']:.2f} ms)"
    if result.pretrain_tokens_per_s:
        line += f"; pre-training {result.pretrain_tokens_per_s:.0f} tokens/s"
    out.print(line, highlight=False)
    out.print(f"saved to {result.output} (recipe.json, fastdraft_report.json)", highlight=False)


@train_app.command("chat-corpus")
@train_errors
def chat_corpus(
    target: TargetOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="The folder for the text files.")],
    conversations: Annotated[
        int, typer.Option("--conversations", help="Conversations the target writes (question and answer).")
    ] = 512,
    batch: Annotated[int, typer.Option("--batch", help="Conversations generated together (a file per batch).")] = 16,
    answer_tokens: Annotated[int, typer.Option("--answer-tokens", help="Longest answer, in tokens.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampled questions.")] = 0,
    threads: ThreadsOption = None,
) -> None:
    """The target writes chat questions and answers them greedily: text for `edge-spec ngram build`.

    An n-gram DB of what the model itself says (Hierarchy Drafting's model tier, built offline)
    drafts chat answers where a code corpus has nothing to offer. Run it again to continue a
    stopped run: the files already written are kept.

    Example: edge-spec train chat-corpus --target ./SmolLM2 -o chat-text &&
    edge-spec ngram build bundle chat-text --python-stdlib -o chat.esng
    """
    from transformers.utils import logging as transformers_logging

    from edge_spec.train.chat_corpus import ChatCorpusConfig, write_chat_corpus

    transformers_logging.disable_progress_bar()
    config = ChatCorpusConfig(target, output, conversations, batch, answer_tokens, seed, threads)
    with _progress_bars() as bars:
        task = bars.add_task("target writes", total=None, info=f"files of {batch} conversations")

        def on_job(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        result = write_chat_corpus(config, on_job)
    out.print(
        f"{result.files} files in {result.output} ({result.written} written now, {result.characters:,} characters); "
        f"next: edge-spec ngram build BUNDLE {result.output} -o chat.esng",
        highlight=False,
    )
