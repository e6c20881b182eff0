"""Spec-layout wrapper -> OpenVINO IR, with NNCF weight compression."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from edge_spec.export.spec_graph import SpecLayoutModule, example_inputs, gqa_kept_in_sdpa

log = logging.getLogger(__name__)

XML = "openvino_model.xml"


def export_openvino(wrapper: SpecLayoutModule, weights: str, out_dir: Path) -> list[Path]:
    """Convert, compress and save; returns the files written (relative to out_dir)."""
    import openvino as ov

    io = wrapper.io
    with torch.no_grad(), gqa_kept_in_sdpa():
        model = ov.convert_model(wrapper, example_input=example_inputs(wrapper.model.config))
    _name_ports(model, io.inputs, io.outputs)
    model = compress(model, weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, out_dir / XML, compress_to_fp16=(weights == "fp16"))
    return [out_dir / XML, out_dir / "openvino_model.bin"]


def _name_ports(model, inputs: list[str], outputs: list[str]) -> None:  # noqa: ANN001
    """Give every port the stable name the runtime looks up (tracing invents its own)."""
    if len(model.inputs) != len(inputs) or len(model.outputs) != len(outputs):
        raise RuntimeError(
            f"traced graph has {len(model.inputs)} inputs / {len(model.outputs)} outputs, "
            f"expected {len(inputs)} / {len(outputs)}"
        )
    for port, name in zip(model.inputs, inputs):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, outputs):
        port.get_tensor().set_names({name})


def compress(model, weights: str):  # noqa: ANN001, ANN201
    """NNCF weight-only compression. int4 uses group size 64: 576 channels don't divide by 128."""
    if weights in ("fp32", "fp16"):
        return model
    import nncf

    if weights == "int8":
        return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    if weights == "int4":
        return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT4_ASYM, group_size=64, ratio=1.0)
    raise ValueError(f"unknown weight format {weights!r}")
