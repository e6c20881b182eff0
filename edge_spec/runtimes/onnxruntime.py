"""ONNX Runtime backend: CPU, CUDA and OpenVINO execution providers.

ONNX Runtime has no plugin-held state, so the runtime owns the KV buffers (BufferKV) and feeds
them as the graph's past; the graph returns only the new entries.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge_spec.bundle import TargetSpec
from edge_spec.errors import DeviceError
from edge_spec.runtimes.base import TargetSession, graph_feed, is_hidden_output
from edge_spec.runtimes.kv_cache import BufferKV

log = logging.getLogger(__name__)

# edge-spec device name -> execution provider
PROVIDERS = {
    "CPU": "CPUExecutionProvider",
    "CUDA": "CUDAExecutionProvider",
    "OPENVINO": "OpenVINOExecutionProvider",
}


def available_devices() -> list[str]:
    import onnxruntime as ort

    present = set(ort.get_available_providers())
    return [name for name, provider in PROVIDERS.items() if provider in present]


def providers_for(device: str) -> list:
    """Execution providers for DEVICE: "CPU", "CUDA[:id]", "OPENVINO[:CPU|GPU|NPU]"."""
    import onnxruntime as ort

    base, _, detail = device.partition(":")
    base = base.upper()
    present = ort.get_available_providers()
    if base not in PROVIDERS:
        raise DeviceError(f"device {device} is unknown to ONNX Runtime; choose from {', '.join(PROVIDERS)}")
    provider = PROVIDERS[base]
    if provider not in present:
        names = [n for n, p in PROVIDERS.items() if p in present]
        raise DeviceError(
            f"device {device} needs {provider}, which this onnxruntime does not have; present: {', '.join(names)}"
        )
    if base == "CUDA":
        return [(provider, {"device_id": int(detail or 0)}), "CPUExecutionProvider"]
    if base == "OPENVINO":
        return [(provider, {"device_type": (detail or "CPU").upper()}), "CPUExecutionProvider"]
    return [provider]


class OnnxRuntimeSession(TargetSession):
    backend = "onnxruntime"
    kv_layout = "buffer"

    def __init__(
        self,
        model_path: Path,
        spec: TargetSpec,
        device: str = "CPU",
        numerics: str = "auto",
        hidden_states: bool = False,
    ):
        import onnxruntime as ort

        super().__init__(spec, device, numerics)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # ORT's CPU EP computes in f32 whatever is asked (no bf16 fast path is enabled here).
        self.numerics = "exact" if numerics == "exact" else "f32"
        self.session = ort.InferenceSession(str(model_path), options, providers=providers_for(device))
        self._output_names = [
            o.name for o in self.session.get_outputs() if hidden_states or not is_hidden_output(o.name)
        ]
        self._inputs = {i.name for i in self.session.get_inputs()}

    @property
    def graph_inputs(self) -> set[str]:
        return self._inputs

    def _make_kv(self) -> BufferKV:
        return BufferKV(self.spec.num_layers, self.spec.kv_heads, self.spec.head_dim)

    def _run(self, input_ids, position_ids, logit_rows, mask, sliding):  # noqa: ANN001, ANN202
        feeds = graph_feed(input_ids, position_ids, logit_rows, mask, sliding)
        for i, (k, v) in enumerate(zip(self.kv.keys, self.kv.values)):
            feeds[f"past_key.{i}"] = k
            feeds[f"past_value.{i}"] = v
        outs = dict(zip(self._output_names, self.session.run(self._output_names, feeds)))
        layers = self.spec.num_layers
        self.kv.append([outs[f"new_key.{i}"] for i in range(layers)], [outs[f"new_value.{i}"] for i in range(layers)])
        hidden = {name: value for name, value in outs.items() if is_hidden_output(name)}
        return outs["logits"], hidden
