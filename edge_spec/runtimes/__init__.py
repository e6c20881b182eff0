"""Backends that run the spec-layout graphs. Each imports its runtime lazily.

`open_target` is the one entry point: it picks the bundle's file for the backend and returns a
`TargetSession` the engine drives without knowing which runtime is underneath.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge_spec.bundle import Manifest, TargetSpec
from edge_spec.errors import BundleError, EdgeSpecError
from edge_spec.runtimes.base import ForwardResult, TargetSession

log = logging.getLogger(__name__)

BACKENDS = ("openvino", "onnxruntime")
_FORMAT_OF = {"openvino": "openvino", "onnxruntime": "onnx"}

__all__ = ["BACKENDS", "ForwardResult", "TargetSession", "list_devices", "open_target"]


NUMERICS = ("auto", "exact", "default", "f32")


def open_target(
    root: Path,
    manifest: Manifest,
    backend: str,
    device: str,
    numerics: str = "auto",
    spec: TargetSpec | None = None,
    hidden_states: bool = False,
) -> TargetSession:
    """Load the bundle's target (or the model SPEC names: a draft) for BACKEND on DEVICE.

    numerics: "exact" (f32, dynamic quantization off: greedy output is plain decoding's),
    "auto" (the device's fastest, measured), or a fixed "default" / "f32" precision hint.
    hidden_states: also return the graph's hidden-state outputs (left out otherwise: they cost
    time, see OpenVINOSession._read_model).
    """
    if numerics not in NUMERICS:
        raise EdgeSpecError(f"numerics {numerics!r}: unknown; choose from {', '.join(NUMERICS)}")
    if backend not in BACKENDS:
        raise EdgeSpecError(f"--backend {backend}: unknown; choose from {', '.join(BACKENDS)}")
    fmt = _FORMAT_OF[backend]
    spec = spec or manifest.target
    entry = spec.formats.get(fmt)
    if entry is None:
        have = ", ".join(spec.formats) or "none"
        raise BundleError(
            f"{root}: has no {fmt} model for --backend {backend} (it has: {have}); "
            f"re-export with --format {fmt} or --format both"
        )
    path = root / entry["path"]
    if backend == "openvino":
        return _open_openvino(path, spec, device, numerics, hidden_states)
    from edge_spec.runtimes.onnxruntime import OnnxRuntimeSession

    return OnnxRuntimeSession(path, spec, device=device, numerics=numerics, hidden_states=hidden_states)


def _open_openvino(path: Path, spec: TargetSpec, device: str, numerics: str, hidden_states: bool) -> TargetSession:
    """PagedAttention on the CPU where the graph converts (openvino_paged.py), else the stateful graph.

    EDGE_SPEC_OPENVINO_KV=slots keeps the stateful graph (for side-by-side benchmarks).
    """
    from edge_spec.runtimes.openvino import OpenVINOSession

    layout = os.environ.get("EDGE_SPEC_OPENVINO_KV", "paged")
    if layout not in ("paged", "slots"):
        raise EdgeSpecError(f"EDGE_SPEC_OPENVINO_KV={layout}: unknown; choose paged or slots")
    if layout == "paged" and not hidden_states and not spec.sliding_window and device.upper().startswith("CPU"):
        from edge_spec.runtimes.openvino_paged import NotPageable, PagedOpenVINOSession

        try:
            return PagedOpenVINOSession(path, spec, device=device, numerics=numerics)
        except NotPageable as exc:
            log.info("%s; using the stateful graph", exc)
    return OpenVINOSession(path, spec, device=device, numerics=numerics, hidden_states=hidden_states)


def list_devices() -> dict[str, list[str]]:
    """What each backend sees on this machine."""
    from edge_spec.runtimes import onnxruntime as ort_backend
    from edge_spec.runtimes import openvino as ov_backend

    return {"openvino": ov_backend.available_devices(), "onnxruntime": ort_backend.available_devices()}
