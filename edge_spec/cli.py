"""The `edge-spec` command line. The CLI owns the terminal; the library only logs.

Every user error is one line on stderr and exit code 2 (no traceback).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from edge_spec import __version__
from edge_spec.errors import EdgeSpecError

app = typer.Typer(
    name="edge-spec",
    help="Speculative decoding for laptops and AI PCs: same answers, sooner.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn EdgeSpecError (and ValueError from config checks) into one line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (EdgeSpecError, ValueError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


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
    model: Annotated[str, typer.Argument(help="A local Hugging Face model directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle directory to write.")],
    format: Annotated[str, typer.Option("--format", help="openvino, onnx or both.")] = "openvino",
    weights: Annotated[str, typer.Option("--weights", help="fp32, fp16, int8 or int4.")] = "int8",
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
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from edge_spec.export.exporter import ExportOptions, export_model

    formats = ("openvino", "onnx") if format == "both" else (format,)
    options = ExportOptions(
        formats=formats,
        weights=weights,
        early_layer=early_layer,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
    )
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
        task = progress.add_task("export", total=None)
        bundle = export_model(model, output, options, on_stage=on_stage)
        finish_stage()
    err.print(f"[green]bundle written:[/] {bundle}")


@app.command()
@user_errors
def generate(
    bundle: Annotated[Path, typer.Argument(help="A bundle made by `edge-spec export`.")],
    prompt: Annotated[str, typer.Argument(help="The prompt text ('-' reads stdin).")],
    max_new_tokens: Annotated[int, typer.Option(help="Stop after this many new tokens.")] = 128,
    backend: Annotated[str, typer.Option(help="openvino or onnxruntime.")] = "openvino",
    device: Annotated[str, typer.Option(help="CPU, GPU, NPU, AUTO (OpenVINO); CPU, CUDA, OPENVINO (ORT).")] = "CPU",
    drafter: Annotated[str, typer.Option(help="none (plain decoding).")] = "none",
    exact: Annotated[bool, typer.Option("--exact", help="f32 compute: output equals plain decoding.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of streaming.")] = False,
) -> None:
    """Generate a continuation of PROMPT, streaming text as it is produced.

    Examples:

      edge-spec generate smollm2.bundle "def fibonacci(n):" --max-new-tokens 64

      edge-spec generate smollm2.bundle "Hello" --exact --json
    """
    from edge_spec.pipeline import GenerationConfig, Pipeline

    if prompt == "-":
        prompt = _read_stdin()
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    pipe = Pipeline.load(bundle, backend=backend, device=device, drafter=drafter, exact=exact)
    if as_json:
        result = pipe.generate(prompt, config)
        payload = {"text": result.text, "tokens": result.tokens, "stats": result.stats.to_dict()}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    result = pipe.generate(prompt, config, on_text=show)
    sys.stdout.write("\n")
    s = result.stats
    err.print(
        f"[dim]{s.new_tokens} tokens, {s.tokens_per_s:.1f} tok/s, TTFT {s.ttft_s * 1000:.0f} ms, {s.numerics}[/]",
        highlight=False,
    )


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeSpecError(f"stdin: not valid UTF-8 (byte {exc.start}); send UTF-8 text") from None


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
    """Show a bundle's manifest: parts, formats, precisions, sizes.

    Example:

      edge-spec inspect smollm2.bundle
    """
    from rich.table import Table

    from edge_spec.bundle import load_manifest

    root, manifest = load_manifest(bundle)
    t = manifest.target
    out.print(f"[bold]{root}[/]  schema {manifest.schema_version}, edge-spec {manifest.edge_spec_version}")
    out.print(
        f"target: {t.architecture}, {t.num_layers} layers, {t.kv_heads} KV heads x {t.head_dim}, "
        f"vocab {t.vocab_size}, context {t.max_positions}, early layer {t.early_layer}"
    )
    table = Table("format", "weights", "file", "size")
    for fmt, entry in t.formats.items():
        prefix = str(Path(entry["path"]).parent)
        size = sum(f["size"] for rel, f in manifest.files.items() if rel.startswith(prefix))
        table.add_row(fmt, entry["weights"], entry["path"], f"{size / 2**20:.1f} MiB")
    out.print(table)
    out.print(f"drafters: {len(manifest.drafters) or 'none'}; n-gram DBs: {len(manifest.ngram_dbs) or 'none'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
