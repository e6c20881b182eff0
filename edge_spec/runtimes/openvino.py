"""OpenVINO backend: compiles the spec-layout IR and feeds it the KV buffers without copies."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_spec.bundle import TargetSpec, atomic_write_text, cache_dir
from edge_spec.errors import DeviceError
from edge_spec.runtimes.base import TargetSession

log = logging.getLogger(__name__)

VIRTUAL_DEVICES = ("AUTO", "HETERO", "MULTI")
EXACT_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}
LATENCY_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
# Candidate numerics for the default ("fast") mode; the faster one on this device is measured.
FAST_CANDIDATES: dict[str, dict[str, str]] = {"default": {}, "f32": {"INFERENCE_PRECISION_HINT": "f32"}}


def available_devices() -> list[str]:
    import openvino as ov

    return list(ov.Core().available_devices)


def check_device(device: str, present: list[str]) -> None:
    base = device.split(":")[0].split(".")[0].upper()
    if base in VIRTUAL_DEVICES:
        return
    if device.upper() not in (d.upper() for d in present) and base not in (d.upper() for d in present):
        raise DeviceError(
            f"device {device} is not available to OpenVINO on this machine; present: {', '.join(present)}"
        )


class OpenVINOSession(TargetSession):
    backend = "openvino"

    def __init__(self, model_path: Path, spec: TargetSpec, device: str = "CPU", numerics: str = "auto"):
        import openvino as ov

        super().__init__(spec, device, numerics)
        self.core = ov.Core()
        check_device(device, list(self.core.available_devices))
        self.model_path = model_path
        if numerics == "exact":
            config = dict(EXACT_CONFIG)
        else:
            if numerics == "auto":
                self.numerics = self._fastest_numerics()
            config = dict(FAST_CANDIDATES[self.numerics])
        self.compiled = self._compile(config)
        self.request = self.compiled.create_infer_request()
        self._output_index = {name: i for i, name in enumerate(spec.outputs)}

    def _compile(self, config: dict[str, str]) -> Any:
        props = {**LATENCY_CONFIG, **config} if self.device.upper().startswith("CPU") else dict(config)
        # One model cache per set of properties: a blob compiled under the bf16 hint was seen
        # to leak into a later f32 compile of the same model sharing the cache directory.
        key = "-".join(f"{k}={v}" for k, v in sorted(props.items())) or "default"
        ov_cache = cache_dir() / "openvino" / hashlib.sha256(key.encode()).hexdigest()[:16]
        ov_cache.mkdir(parents=True, exist_ok=True)
        props["CACHE_DIR"] = str(ov_cache)
        return self.core.compile_model(str(self.model_path), self.device, props)

    def _run(self, input_ids, position_ids, mask):  # noqa: ANN001, ANN202
        import openvino as ov

        inputs = [ov.Tensor(input_ids), ov.Tensor(position_ids), ov.Tensor(mask, shared_memory=True)]
        for k, v in zip(self.kv.keys, self.kv.values):
            inputs += [ov.Tensor(k, shared_memory=True), ov.Tensor(v, shared_memory=True)]
        result = self.request.infer(inputs, share_inputs=True, share_outputs=True)
        outs = [result[i] for i in range(len(self.spec.outputs))]
        layers = self.spec.num_layers
        keys = [outs[1 + 2 * i] for i in range(layers)]
        values = [outs[2 + 2 * i] for i in range(layers)]
        hidden = {name: np.array(outs[i]) for name, i in self._output_index.items() if name.startswith("hidden_")}
        return np.array(outs[0]), keys, values, hidden

    def _fastest_numerics(self) -> str:
        """The faster of the device's default precision and f32, measured once and cached.

        The answer depends on device and weight format (int8 weights ran faster at f32 than
        under the default bf16 on an AMX Xeon), so it is measured rather than assumed.
        """
        stat = self.model_path.stat()
        key = f"{self.model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.device}"
        store = cache_dir() / "numerics.json"
        try:
            known = json.loads(store.read_text())
        except (OSError, ValueError):
            known = {}
        if key in known and known[key] in FAST_CANDIDATES:
            return known[key]
        timings = {name: self._time_decode(cfg) for name, cfg in FAST_CANDIDATES.items()}
        best = min(timings, key=timings.get)
        log.info("numerics calibration on %s: %s -> %s", self.device, timings, best)
        known[key] = best
        store.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(store, json.dumps(known, indent=1))
        return best

    def _time_decode(self, config: dict[str, str], past: int = 256, steps: int = 6) -> float:
        import openvino as ov

        compiled = self._compile(config)
        request = compiled.create_infer_request()
        heads, dim = self.spec.kv_heads, self.spec.head_dim
        kv = np.zeros((1, heads, past, dim), np.float32)
        mask = np.zeros((1, 1, 1, past + 1), np.float32)
        inputs = [ov.Tensor(np.zeros((1, 1), np.int64)), ov.Tensor(np.full((1, 1), past, np.int64)), mask]
        inputs += [kv] * (2 * self.spec.num_layers)
        request.infer(inputs)
        best = float("inf")
        for _ in range(steps):
            start = time.perf_counter()
            request.infer(inputs)
            best = min(best, time.perf_counter() - start)
        return best
