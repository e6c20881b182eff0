"""`edge-spec export`: a Hugging Face causal LM -> a bundle with the target in the spec layout."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_spec import __version__
from edge_spec.bundle import SCHEMA_VERSION, Manifest, TargetSpec, file_entry, sha256_of, staged_directory
from edge_spec.errors import ExportError

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


def export_model(
    model: str | Path, output: str | Path, options: ExportOptions, on_stage: StageCallback | None = None
) -> Path:
    """Export MODEL to a bundle at OUTPUT; returns the bundle path.

    Nothing is left at OUTPUT unless the whole export succeeded.
    """
    from edge_spec.export.source import check_model_dir, load_torch_model

    stage = on_stage or (lambda _: None)
    for fmt in options.formats:
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt}: unknown; choose from openvino, onnx, both")
    if options.weights not in WEIGHTS:
        raise ExportError(f"--weights {options.weights}: unknown; choose from {', '.join(WEIGHTS)}")

    stage("checking the model")
    source = check_model_dir(model, options.trust_remote_code)
    tokenizer_json = source.path / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise ExportError(f"{source.path}: no tokenizer.json (a fast tokenizer is required)")
    output = Path(output)
    with staged_directory(output, overwrite=options.overwrite) as tmp:
        stage("loading the PyTorch model")
        torch_model = load_torch_model(source, options.trust_remote_code)
        from edge_spec.export.architectures import kv_shape, max_positions
        from edge_spec.export.spec_graph import SpecLayoutModule

        config = torch_model.config
        layers = config.num_hidden_layers
        early = options.early_layer if options.early_layer is not None else min(2, layers)
        if not 1 <= early <= layers:
            raise ExportError(f"--early-layer {early}: must be between 1 and {layers}")
        kv_heads, head_dim = kv_shape(config)
        formats: dict[str, dict] = {}
        if "openvino" in options.formats:
            from edge_spec.export.to_openvino import export_openvino

            stage(f"converting to OpenVINO IR ({options.weights} weights)")
            wrapper = SpecLayoutModule(torch_model, source.arch, early, kv_output="present")
            files = export_openvino(wrapper, options.weights, tmp / "target" / "openvino")
            formats["openvino"] = {
                "path": _rel(files[0], tmp),
                "weights": options.weights,
                "stateful": True,
                "inputs": [n for n in wrapper.io.inputs if not n.startswith("past_")],
                "outputs": [n for n in wrapper.io.outputs if not n.startswith("present_")],
            }
        if "onnx" in options.formats:
            from edge_spec.export.to_onnx import export_onnx

            stage(f"exporting to ONNX ({options.weights} weights)")
            wrapper = SpecLayoutModule(torch_model, source.arch, early, kv_output="new")
            files, stored = export_onnx(wrapper, options.weights, tmp / "target" / "onnx")
            formats["onnx"] = {
                "path": _rel(files[0], tmp),
                "weights": stored,
                "stateful": False,
                "inputs": wrapper.io.inputs,
                "outputs": wrapper.io.outputs,
            }

        stage("copying the tokenizer")
        tok_dir = tmp / "tokenizer"
        tok_dir.mkdir()
        copied = []
        for name in TOKENIZER_FILES:
            if (source.path / name).is_file():
                shutil.copy2(source.path / name, tok_dir / name)
                copied.append(name)

        stage("writing the manifest")
        target = TargetSpec(
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
        files = {_rel(p, tmp): file_entry(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            edge_spec_version=__version__,
            source={
                "path": str(source.path.resolve()),
                "model_type": source.arch.model_type,
                "config_sha256": sha256_of(source.path / "config.json"),
            },
            tokenizer={"dir": "tokenizer", "files": copied},
            target=target,
            files=files,
        )
        (tmp / "edge_spec.json").write_text(manifest.to_json(), encoding="utf-8")
    log.info("bundle written to %s", output)
    return output


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
