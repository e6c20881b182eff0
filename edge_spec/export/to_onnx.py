"""Spec-layout wrapper -> ONNX, with ONNX Runtime weight quantization."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from edge_spec.export.quiet_libraries import quiet_transformers
from edge_spec.export.spec_graph import SpecLayoutModule, example_inputs

log = logging.getLogger(__name__)

ONNX = "model.onnx"
ONNX_DATA = "model.onnx.data"


def export_onnx(wrapper: SpecLayoutModule, weights: str, out_dir: Path) -> tuple[list[Path], str]:
    """Export and quantize; returns (files written, the weight format actually stored).

    ONNX Runtime's CPU EP has no fast fp16 kernels, so fp16 is stored as fp32 and said so.
    """
    import onnx

    io = wrapper.io
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-spec-onnx-") as tmp:
        raw = Path(tmp) / ONNX
        dynamic = {
            "input_ids": {1: "T"},
            "position_ids": {1: "T"},
            "logit_rows": {0: "K"},
            "attention_mask": {2: "T", 3: "PT"},
        }
        if io.sliding:
            dynamic["sliding_attention_mask"] = {2: "T", 3: "PT"}
        for i in range(wrapper.num_layers):
            dynamic[f"past_key.{i}"] = {2: "P"}
            dynamic[f"past_value.{i}"] = {2: "P"}
            dynamic[f"new_key.{i}"] = {2: "T"}
            dynamic[f"new_value.{i}"] = {2: "T"}
        dynamic["logits"] = {1: "K"}
        for name in io.outputs:
            if name.startswith("hidden_"):
                dynamic[name] = {1: "T"}
        # The TorchScript ONNX exporter cannot express SDPA's enable_gqa: K/V heads are repeated.
        with torch.no_grad(), quiet_transformers():  # tracing wakes transformers' one-time notices
            torch.onnx.export(
                wrapper,
                example_inputs(wrapper),
                str(raw),
                input_names=io.inputs,
                output_names=io.outputs,
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,
            )
        model = onnx.load(str(raw), load_external_data=True)
        stored = weights
        if weights == "fp16":
            log.warning("ONNX Runtime's CPU EP has no fast fp16 path: storing the ONNX part as fp32")
            stored = "fp32"
        model = quantize(model, stored, Path(tmp))
        onnx.save_model(
            model,
            str(out_dir / ONNX),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=ONNX_DATA,
            size_threshold=1024,
        )
    return [out_dir / ONNX, out_dir / ONNX_DATA], stored


def quantize(model, weights: str, tmp: Path):  # noqa: ANN001, ANN201
    """int8: dynamic quantization of MatMul weights; int4: MatMulNBits, block size 32."""
    if weights == "fp32":
        return model
    import onnx

    if weights == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        src, dst = tmp / "fp32.onnx", tmp / "int8.onnx"
        onnx.save_model(model, str(src), save_as_external_data=True, location="fp32.onnx.data")
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            use_external_data_format=True,
        )
        return onnx.load(str(dst), load_external_data=True)
    if weights == "int4":
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(model, block_size=32, is_symmetric=True)
        quantizer.process()
        return quantizer.model.model
    raise ValueError(f"unknown weight format {weights!r}")
