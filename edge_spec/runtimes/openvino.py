"""OpenVINO backend: a stateful spec-layout model whose KV cache lives in the plugin."""

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
from edge_spec.runtimes.base import TargetSession, graph_feed, is_hidden_output
from edge_spec.runtimes.kv_cache import SlotKV

log = logging.getLogger(__name__)

BEAM = np.zeros(1, dtype=np.int32)  # batch 1: the cache-reorder Gather is the identity
VIRTUAL_DEVICES = ("AUTO", "HETERO", "MULTI")
# Exact: f32 compute, f32 KV cache (the plugin's default u8/f16 cache moves logits by up to
# 0.15), no dynamic quantization of activations.
EXACT_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}
LATENCY_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
# Candidate numerics for the default ("fast") mode; the faster one on this device is measured.
FAST_CANDIDATES: dict[str, dict[str, str]] = {"default": {}, "f32": {"INFERENCE_PRECISION_HINT": "f32"}}
# The turn the candidates are timed on; CALIBRATION names the method in the cache key, so a
# choice cached by an older method is measured again.
CALIBRATION_PROMPT = 256
CALIBRATION_NEW = 128
CALIBRATION = "turn256+128"


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
    """A stateful spec-layout model: the plugin holds the KV cache, we hold its slot table."""

    backend = "openvino"
    kv_layout = "slots"

    def __init__(
        self,
        model_path: Path,
        spec: TargetSpec,
        device: str = "CPU",
        numerics: str = "auto",
        hidden_states: bool = False,
    ):
        import openvino as ov

        self.core = ov.Core()
        check_device(device, list(self.core.available_devices))
        self.model_path = model_path
        self._model = self._read_model(hidden_states)
        super().__init__(spec, device, numerics)
        compiled = None
        if numerics == "auto":
            self.numerics, compiled = self._fastest_numerics()
        self.compiled = compiled or self._compile(self.numerics_config())
        self._model = None  # compiled now; holding the graph kept its weights resident (+136 MB at int8)
        self.request = self.compiled.create_infer_request()
        self.request.reset_state()
        self._input_names = {name for port in self.compiled.inputs for name in port.get_names()}
        self._hidden = [
            (name, i)
            for i, port in enumerate(self.compiled.outputs)
            for name in port.get_names()
            if is_hidden_output(name)
        ]

    def numerics_config(self) -> dict[str, str]:
        """The compile properties of the numerics this session runs (a fresh dict to add to)."""
        return dict(EXACT_CONFIG if self.numerics == "exact" else FAST_CANDIDATES[self.numerics])

    @property
    def graph_inputs(self) -> set[str]:
        return self._input_names

    def _read_model(self, hidden_states: bool) -> Any:
        """The graph, without its hidden-state outputs unless a drafter reads them.

        An f32 result on the residual stream makes the CPU plugin keep the whole stream in f32
        under the bf16 hint (two reorders per layer): SmolLM2-135M's one-token step was 5%
        slower with them on a 2-core EPYC (OpenVINO 2026.4).
        """
        model = self.core.read_model(str(self.model_path))
        if not hidden_states:
            for result in list(model.get_results()):
                names = result.input_value(0).get_names() | result.output(0).get_names()
                if any(is_hidden_output(name) for name in names):
                    model.remove_result(result)
        return model

    def _make_kv(self) -> SlotKV:
        return SlotKV(compact=self._compact_state)

    def _compile(self, config: dict[str, str]) -> Any:
        props = {**LATENCY_CONFIG, **config} if self.device.upper().startswith("CPU") else dict(config)
        if self._cacheable(props):
            # One model cache per set of properties: a blob compiled under the bf16 hint was
            # seen to leak into a later f32 compile of the same model sharing the directory.
            key = "-".join(f"{k}={v}" for k, v in sorted(props.items())) or "default"
            ov_cache = cache_dir() / "openvino" / hashlib.sha256(key.encode()).hexdigest()[:16]
            ov_cache.mkdir(parents=True, exist_ok=True)
            props["CACHE_DIR"] = str(ov_cache)
        return self.core.compile_model(self._model, self.device, props)

    def _cacheable(self, props: dict[str, str]) -> bool:
        """Whether to use OpenVINO's model cache (loads in ~0.1 s instead of ~1 s).

        Not for fp16 weights under the f32 hint: a model loaded from the cache blob ran a decode
        step of SmolLM2-135M in 28.9 ms where the freshly compiled one took 21.5 ms (2-core
        Xeon, OpenVINO 2026.4): the blob evidently keeps the weights in fp16 and pays for
        converting them at every step. int8/int4 weights and the default hint load from the
        cache at full speed.
        """
        weights = self.spec.formats.get("openvino", {}).get("weights")
        return not (weights == "fp16" and props.get("INFERENCE_PRECISION_HINT") == "f32")

    def _turn_costs(self, compiled: dict[str, Any], rounds: int = 3, steps: int = 4) -> dict[str, tuple[float, float]]:
        """(best prefill of CALIBRATION_PROMPT tokens, best one-token step after it) per candidate.

        The candidates take turns round by round, so a noisy moment on a shared machine hits them
        alike instead of deciding the choice.
        """
        requests = {name: self._calibration_request(model) for name, model in compiled.items()}
        best = {name: [float("inf"), float("inf")] for name in compiled}

        def timed(request: Any, count: int, start: int) -> float:
            feed = self._calibration_feed(request, count, start)
            begin = time.perf_counter()
            request.infer(feed)
            return time.perf_counter() - begin

        for _ in range(rounds):
            for name, request in requests.items():
                request.reset_state()
                best[name][0] = min(best[name][0], timed(request, CALIBRATION_PROMPT, 0))
                for i in range(steps):
                    best[name][1] = min(best[name][1], timed(request, 1, CALIBRATION_PROMPT + i))
        return {name: (pre, step) for name, (pre, step) in best.items()}

    def _calibration_request(self, compiled: Any) -> Any:
        """A request of a candidate COMPILED model, ready for _calibration_feed."""
        return compiled.create_infer_request()

    def _calibration_feed(self, request: Any, count: int, start: int) -> dict:
        """Inputs for COUNT causal tokens after START committed ones, on a calibration REQUEST."""
        two_masks = any("sliding_attention_mask" in port.get_names() for port in request.model_inputs)
        mask = np.zeros((1, 1, count, start + count), np.float32)
        ids = np.zeros((1, count), np.int64)
        positions = np.arange(start, start + count, dtype=np.int64)[None]
        return _feed(ids, positions, np.array([count - 1]), mask, mask if two_masks else None)

    def _run(self, input_ids, position_ids, logit_rows, mask, sliding):  # noqa: ANN001, ANN202
        inputs = _feed(input_ids, position_ids, logit_rows, mask, sliding)
        result = self.request.infer(inputs, share_inputs=True, share_outputs=True)
        self.kv.add_pending(position_ids[0])
        # outputs are views of the request's buffers: copy what must outlive the next infer
        hidden = {name: np.array(result[i]) for name, i in self._hidden}
        return np.array(result[0]), hidden

    def reset(self) -> None:
        super().reset()
        self.request.reset_state()

    def _compact_state(self, order: np.ndarray) -> None:
        """Rewrite every K/V state keeping only the slots in ORDER (rare: see SlotKV)."""
        import openvino as ov

        for state in self.request.query_state():
            data = state.state.data
            state.state = ov.Tensor(np.ascontiguousarray(data[:, :, order, :]))

    def _fastest_numerics(self) -> tuple[str, Any]:
        """The faster of the device's default precision and f32 over a typical turn, cached.

        The answer depends on device and weight format (int8 weights ran faster at f32 than
        under the default bf16 on an AMX Xeon), so it is measured rather than assumed. A turn
        is a CALIBRATION_PROMPT-token prefill and CALIBRATION_NEW one-token steps: timing the
        step alone picked f32 for fp16 weights on a 2-core EPYC, where the bf16 hint prefills
        256 tokens 2.4x faster (87 vs 208 ms) and steps no slower. Returns the choice and, when
        it was just measured, the winner's compiled model (no recompile).
        """
        stat = self.model_path.stat()
        outputs = len(self._model.outputs)  # the graph compiled differs with and without hidden states
        graph = f"{self.model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.kv_layout}|{outputs}"
        key = f"{CALIBRATION}|{graph}|{self.device}"
        store = cache_dir() / "numerics.json"
        try:
            known = json.loads(store.read_text())
        except (OSError, ValueError):
            known = {}
        if key in known and known[key] in FAST_CANDIDATES:
            return known[key], None
        compiled = {name: self._compile(dict(cfg)) for name, cfg in FAST_CANDIDATES.items()}
        costs = self._turn_costs(compiled)
        best = min(costs, key=lambda name: costs[name][0] + CALIBRATION_NEW * costs[name][1])
        log.info(
            "numerics calibration on %s (prefill %d, step ms): %s -> %s",
            self.device,
            CALIBRATION_PROMPT,
            {name: (round(pre * 1e3, 1), round(step * 1e3, 2)) for name, (pre, step) in costs.items()},
            best,
        )
        known[key] = best
        store.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(store, json.dumps(known, indent=1))
        return best, compiled[best]


def _feed(input_ids, position_ids, logit_rows, mask, sliding) -> dict:  # noqa: ANN001
    """The stateful graph's inputs (the KV cache is not among them: it is plugin state)."""
    return {**graph_feed(input_ids, position_ids, logit_rows, mask, sliding), "beam_idx": BEAM}
