"""`edge-spec export`: a Hugging Face causal LM -> a bundle with the target in the spec layout."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_spec import __version__
from edge_spec.bundle import SCHEMA_VERSION, Manifest, TargetSpec, file_entry, sha256_of, staged_directory
from edge_spec.drafters.draft_vocab import VOCAB_FILE
from edge_spec.errors import EdgeSpecError, ExportError

log = logging.getLogger(__name__)

FORMATS = ("openvino", "onnx")
WEIGHTS = ("fp32", "fp16", "int8", "int4")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)

# A stage callback: (stage description) -> None, called as each stage starts.
StageCallback = Callable[[str], None]


@dataclass
class ExportOptions:
    """What to export and how."""

    formats: tuple[str, ...] = ("openvino",)
    weights: str = "int8"
    early_layer: int | None = None  # default: 2, Kangaroo's exit layer, capped by depth
    trust_remote_code: bool = False
    overwrite: bool = False
    draft: str | Path | None = None  # a draft model (same tokenizer) exported next to the target
    draft_weights: str | None = None  # default: the target's


def export_model(
    model: str | Path, output: str | Path, options: ExportOptions, on_stage: StageCallback | None = None
) -> Path:
    """Export MODEL (a model directory or a GGUF file) to a bundle at OUTPUT; returns its path.

    Nothing is left at OUTPUT unless the whole export succeeded.
    """
    from edge_spec.export.draft_check import check_draft_tokenizer

    stage = on_stage or (lambda _: None)
    for fmt in options.formats:
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt}: unknown; choose from openvino, onnx, both")
    for flag, value in (("--weights", options.weights), ("--draft-weights", options.draft_weights)):
        if value is not None and value not in WEIGHTS:
            raise ExportError(f"{flag} {value}: unknown; choose from {', '.join(WEIGHTS)}")

    with contextlib.ExitStack() as stack:
        stage("checking the model")
        source = _checked_source(model, options, stack, stage)
        draft = None
        if options.draft is not None:
            stage("checking the draft model")
            draft = _checked_source(options.draft, options, stack, stage)
            shared_vocab = check_draft_tokenizer(source.path, draft.path)
            draft_vocab = _draft_vocabulary(draft, shared_vocab)
        output = Path(output)
        tmp = stack.enter_context(staged_directory(output, overwrite=options.overwrite))
        target = _export_part("target", source, tmp, options, options.weights, options.early_layer, stage)
        drafters = []
        if draft is not None:
            weights = options.draft_weights or options.weights
            spec = _export_part("draft", draft, tmp, options, weights, None, stage)
            entry = {
                "kind": "draft_model",
                "name": "draft",
                "shared_vocab": min(shared_vocab, spec.vocab_size, target.vocab_size),
                "source": _source_record(draft),
                "spec": asdict(spec),
            }
            if draft_vocab is not None:  # draft ids are not target ids: the map goes with it
                draft_vocab.save(tmp / "draft" / VOCAB_FILE)
                entry["vocab"] = f"draft/{VOCAB_FILE}"
                entry["shared_vocab"] = min(shared_vocab, target.vocab_size)
            drafters.append(entry)

        stage("copying the tokenizer")
        tok_dir = tmp / "tokenizer"
        tok_dir.mkdir()
        copied = []
        for name in TOKENIZER_FILES:
            if (source.path / name).is_file():
                shutil.copy2(source.path / name, tok_dir / name)
                copied.append(name)

        stage("writing the manifest")
        files = {_rel(p, tmp): file_entry(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            edge_spec_version=__version__,
            source=_source_record(source),
            tokenizer={"dir": "tokenizer", "files": copied},
            target=target,
            files=files,
            drafters=drafters,
        )
        (tmp / "edge_spec.json").write_text(manifest.to_json(), encoding="utf-8")
    log.info("bundle written to %s", output)
    return output


def _draft_vocabulary(draft, shared_vocab: int):  # noqa: ANN001, ANN202
    """The draft's reduced vocabulary (FR-Spec) if it has one, checked before any export work."""
    from edge_spec.drafters.draft_vocab import DraftVocabulary

    path = draft.path / VOCAB_FILE
    if not path.is_file():
        return None
    try:
        draft_size = int(json.loads((draft.path / "config.json").read_text(encoding="utf-8"))["vocab_size"])
        return DraftVocabulary.load(path, draft_size, shared_vocab)
    except (KeyError, ValueError, TypeError) as exc:
        raise ExportError(f"{draft.path}: cannot read the draft's vocab_size ({exc})") from None
    except EdgeSpecError as exc:
        raise ExportError(str(exc)) from None


def _checked_source(model: str | Path, options: ExportOptions, stack: contextlib.ExitStack, stage: StageCallback):  # noqa: ANN202
    """The checked model directory for MODEL; a GGUF file is first converted into a temp dir."""
    from edge_spec.export.source import check_model_dir

    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        from edge_spec.export.gguf_source import gguf_to_model_dir

        stage(f"reading the GGUF file {path.name} (dequantizing)")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-spec-gguf-")))
        model = gguf_to_model_dir(path, work)
    source = check_model_dir(model, options.trust_remote_code)
    if not (source.path / "tokenizer.json").is_file():
        raise ExportError(f"{source.path}: no tokenizer.json (a fast tokenizer is required)")
    if path.is_file():
        source.original = path  # the GGUF file, not its temporary directory
    return source


def _export_part(
    name: str,
    source,  # noqa: ANN001
    tmp: Path,
    options: ExportOptions,
    weights: str,
    early_layer: int | None,
    stage: StageCallback,
) -> TargetSpec:
    """Export one model (the target, or the draft) in the spec layout under TMP/NAME/<format>."""
    from edge_spec.export.architectures import kv_shape, max_positions
    from edge_spec.export.source import load_torch_model
    from edge_spec.export.spec_graph import SpecLayoutModule

    stage(f"loading the {name} PyTorch model")
    torch_model = load_torch_model(source, options.trust_remote_code)
    config = torch_model.config
    layers = config.num_hidden_layers
    early = early_layer if early_layer is not None else min(2, layers)
    if not 1 <= early <= layers:
        raise ExportError(f"--early-layer {early}: must be between 1 and {layers}")
    kv_heads, head_dim = kv_shape(config)
    formats: dict[str, dict] = {}
    if "openvino" in options.formats:
        from edge_spec.export.to_openvino import export_openvino

        stage(f"converting the {name} to OpenVINO IR ({weights} weights)")
        wrapper = SpecLayoutModule(torch_model, source.arch, early, kv_output="present")
        files = export_openvino(wrapper, weights, tmp / name / "openvino")
        formats["openvino"] = {
            "path": _rel(files[0], tmp),
            "weights": weights,
            "stateful": True,
            "inputs": [n for n in wrapper.io.inputs if not n.startswith("past_")],
            "outputs": [n for n in wrapper.io.outputs if not n.startswith("present_")],
        }
    if "onnx" in options.formats:
        from edge_spec.export.to_onnx import export_onnx

        stage(f"exporting the {name} to ONNX ({weights} weights)")
        wrapper = SpecLayoutModule(torch_model, source.arch, early, kv_output="new")
        files, stored = export_onnx(wrapper, weights, tmp / name / "onnx")
        formats["onnx"] = {
            "path": _rel(files[0], tmp),
            "weights": stored,
            "stateful": False,
            "inputs": wrapper.io.inputs,
            "outputs": wrapper.io.outputs,
        }
    return TargetSpec(
        architecture=source.arch.model_type,
        num_layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=int(getattr(config, "hidden_size", None) or config.n_embd),
        vocab_size=int(config.vocab_size),
        max_positions=max_positions(config),
        early_layer=early,
        sliding_window=source.arch.sliding_window(config),
        formats=formats,
    )


def _source_record(source) -> dict:  # noqa: ANN001
    return {
        "path": str((source.original or source.path).resolve()),
        "model_type": source.arch.model_type,
        "config_sha256": sha256_of(source.path / "config.json"),
    }


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
