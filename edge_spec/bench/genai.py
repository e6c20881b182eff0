"""OpenVINO GenAI as the comparison for `edge-spec bench --compare genai`.

Three pieces:

* ``export_genai_model`` turns an HF model directory into the folder layout
  ``openvino_genai.LLMPipeline`` loads: optimum-intel's stateful IR at a chosen weight format plus
  openvino_tokenizers' tokenizer/detokenizer. Exports are cached and written atomically.
* ``GenAIRunner`` drives ``LLMPipeline`` with the *same token ids* edge-spec sees (no
  re-tokenisation, so prompts are identical byte for byte), greedy, in plain, prompt-lookup or
  draft-model speculative mode, and reports wall time, TTFT and decode rate.
* ``build_genai_modes`` makes the bench modes "genai-plain", "genai-lookup" (its best setting of
  a small sweep) and "genai-draft" (when the bundle has a draft model) for one bench run.

openvino_genai, openvino_tokenizers, optimum-intel and torch are optional (the `bench` and
`export` extras): each is imported where it is needed, and a missing one is one clear line.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_spec.bench.draft_twin import full_vocabulary_twin, needs_twin
from edge_spec.bench.modes import RunRecord
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

WEIGHTS = ("fp32", "fp16", "int8", "int4")
PRECISIONS = ("default", "f32")
MODES = ("plain", "lookup", "draft")
DEVICE = "CPU"
# Written last into an export folder: its presence means the folder is complete.
EXPORT_MARKER = "genai_export.json"
_REQUIRED = ("openvino_model.xml", "openvino_tokenizer.xml", "openvino_detokenizer.xml")
# Prompt lookup's sweep: tokens proposed per step (k) x longest n-gram matched (g), tried on the
# first SWEEP_PROMPTS prompts; the best mean tokens/s is then used for every prompt.
LOOKUP_SWEEP = tuple((k, g) for k in (4, 8, 16) for g in (2, 3))
DRAFT_SWEEP = (3, 5, 8)  # num_assistant_tokens tried for GenAI's draft-model mode
SWEEP_PROMPTS = 3
INSTALL_HINT = "pip install -e .[bench,export]"
FLUSH_IDS = [1, 2, 3, 4]  # a prompt no bench prompt equals, run between repeats of one prompt


def require(module: str, purpose: str = "--compare genai") -> Any:
    """Import an optional dependency, or fail with one line saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EdgeSpecError(f"{purpose} needs {module.split('.')[0]} ({exc}); {INSTALL_HINT}") from None


def _quantization_config(weights: str, int4_sym: bool) -> Any:
    """optimum-intel weight compression matching what the CLI does for ``--weight-format``.

    int8: NNCF int8 asymmetric per-channel (group_size=-1) on every layer, which is what
    ``optimum-cli export openvino --weight-format int8`` builds. int4: group size 64 because the
    bench target's hidden size 576 is not a multiple of optimum's default 128, ratio 1.0 so every
    eligible layer is int4 (NNCF still keeps the embedding / tied lm_head in int8 backup
    precision, as the CLI does). fp16 and fp32: no NNCF at all (``None``). edge-spec's own
    int8/int4 are NNCF INT8_ASYM / INT4_ASYM group 64, the same.
    """
    if weights in ("fp16", "fp32"):
        return None
    OVWeightQuantizationConfig = require("optimum.intel").OVWeightQuantizationConfig
    if weights == "int8":
        return OVWeightQuantizationConfig(bits=8, sym=False, group_size=-1, ratio=1.0)
    return OVWeightQuantizationConfig(bits=4, sym=int4_sym, group_size=64, ratio=1.0)


def _weight_element_counts(model: Any) -> dict[str, int]:
    """Number of scalar weights per element type over the model's Constants (>= 1024 elements,
    so shape constants and the like do not blur the picture)."""
    counts: dict[str, int] = {}
    for op in model.get_ops():
        if op.get_type_name() != "Constant":
            continue
        n = math.prod(op.get_output_shape(0))
        if n >= 1024:
            key = op.get_output_element_type(0).get_type_name()
            counts[key] = counts.get(key, 0) + n
    return counts


def is_genai_folder(path: Path) -> bool:
    """Whether PATH already is a folder LLMPipeline loads (model IR plus tokenizer IRs)."""
    return all((Path(path) / name).is_file() for name in _REQUIRED)


def export_genai_model(
    target_dir: Path, weights: str, cache_root: Path, *, int4_sym: bool = False, name: str | None = None
) -> Path:
    """Export ``target_dir`` (HF model folder) for ``openvino_genai.LLMPipeline``; return the folder.

    The result lives in ``cache_root / f"{name}-{weights}"`` (name: the model folder's; ``-sym``
    appended for symmetric int4) and is reused when complete. The export goes to a temporary
    sibling folder that is renamed at the end, so an interrupted export never leaves a
    half-written folder behind.

    Why not ``optimum-cli``: the Python API lets us pin the exact weight format. Beware that
    ``OVModelForCausalLM.from_pretrained(export=True)`` without a quantization config saves
    **fp32** weights (the CLI's ``--weight-format fp16`` passes ``OVConfig(dtype="fp16")`` to
    compress them), and applies int8 on its own to models >= 1B parameters. We pass
    ``load_in_8bit=False`` to rule the latter out, call ``.half()`` for fp16, and check the
    resulting weight element types.

    Like the CLI, optimum records runtime options in the IR's rt_info that GenAI applies when it
    compiles: ``ACTIVATIONS_SCALE_FACTOR=8.0`` always, and ``KV_CACHE_PRECISION=f16`` only in
    unquantized (fp16) exports, so int8/int4 exports run with the CPU's default (u8) KV cache.
    """
    if weights not in WEIGHTS:
        raise EdgeSpecError(f"GenAI export: weights {weights!r} unsupported; choose from {', '.join(WEIGHTS)}")
    target_dir, cache_root = Path(target_dir), Path(cache_root)
    folder = f"{name or target_dir.name}-{weights}" + ("-sym" if weights == "int4" and int4_sym else "")
    out = cache_root / folder
    if is_genai_folder(out) and (out / EXPORT_MARKER).is_file():
        log.debug("GenAI export %s already present", out)
        return out
    if not (target_dir / "config.json").is_file():
        raise EdgeSpecError(
            f"{target_dir}: not a Hugging Face model directory (no config.json); pass --genai-model DIR"
        )

    # Heavy, export-only imports (torch, optimum) stay here so the runner does not pay for them.
    ov = require("openvino")
    openvino_tokenizers = require("openvino_tokenizers")
    require("torch")
    OVModelForCausalLM = require("optimum.intel").OVModelForCausalLM
    AutoTokenizer = require("transformers").AutoTokenizer

    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=cache_root))
    start = time.perf_counter()
    try:
        log.info("exporting %s (%s) with optimum-intel into %s", target_dir, weights, out)
        qconfig = _quantization_config(weights, int4_sym)
        model = OVModelForCausalLM.from_pretrained(
            str(target_dir),
            export=True,
            compile=False,
            stateful=True,
            local_files_only=True,
            load_in_8bit=False,
            quantization_config=qconfig,
        )
        if weights == "fp16":
            model.half()  # fp16 constants + Convert, as save_model(compress_to_fp16=True) does
        counts = _weight_element_counts(model.model)
        log.info("weight element types: %s", counts)
        if weights == "fp16" and counts.get("f32", 0) > 0.01 * sum(counts.values()):
            raise RuntimeError(f"fp16 export still holds f32 weights: {counts}")
        model.save_pretrained(tmp)
        del model

        hf_tok = AutoTokenizer.from_pretrained(str(target_dir), local_files_only=True)
        hf_tok.padding_side = hf_tok.truncation_side = "left"  # what optimum does for text generation
        hf_tok.save_pretrained(tmp)
        ov_tok, ov_detok = openvino_tokenizers.convert_tokenizer(hf_tok, with_detokenizer=True)
        ov.save_model(ov_tok, tmp / "openvino_tokenizer.xml")
        ov.save_model(ov_detok, tmp / "openvino_detokenizer.xml")

        seconds = time.perf_counter() - start
        meta = {
            "source": str(target_dir),
            "weights": weights,
            "quantization": qconfig.to_dict() if qconfig is not None else None,
            "weight_element_counts": counts,
            "export_seconds": round(seconds, 1),
        }
        tmp.chmod(0o755)  # mkdtemp makes it private
        (tmp / EXPORT_MARKER).write_text(json.dumps(meta, indent=1, default=str))
        if is_genai_folder(out) and (out / EXPORT_MARKER).is_file():  # another process won the race
            shutil.rmtree(tmp)
            return out
        if out.exists():  # an incomplete leftover from an interrupted non-atomic copy
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s in %.1f s", out, seconds)
    return out


def _first_token_timer() -> Any:
    """A streamer that only notes when the first token arrives (TTFT fallback)."""
    genai = require("openvino_genai")

    class FirstTokenTimer(genai.StreamerBase):
        def __init__(self) -> None:
            super().__init__()
            self.first: float | None = None

        def write(self, token: int | list[int]) -> Any:
            if self.first is None:
                self.first = time.perf_counter()
            return genai.StreamingStatus.RUNNING

        def end(self) -> None:
            pass

    return FirstTokenTimer()


class GenAIRunner:
    """``openvino_genai.LLMPipeline`` on CPU, fed token ids, greedy.

    ``precision``: "default" leaves the CPU plugin's choice alone (bf16/f16 on CPUs that have it);
    "f32" sets ``INFERENCE_PRECISION_HINT=f32`` on the target (and draft) model. ``properties``
    adds further device properties to both, e.g. ``{"ATTENTION_BACKEND": "SDPA"}`` (GenAI's CPU
    default is "PA", PagedAttention) or ``{"KV_CACHE_PRECISION": "u8"}`` (see the gotcha in
    ``export_genai_model``: optimum pins f16 KV cache in unquantized exports only). One pipeline
    per mode (and draft folder) is built on first use and kept, since building one compiles the
    model.
    """

    def __init__(
        self,
        model_dir: Path,
        precision: str = "default",
        *,
        draft_dir: Path | None = None,
        properties: Mapping[str, Any] | None = None,
        device: str = DEVICE,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.genai = require("openvino_genai")
        self.model_dir = Path(model_dir)
        self.precision = precision
        self.draft_dir = Path(draft_dir) if draft_dir is not None else None
        self.device = device
        self.props: dict[str, Any] = {}
        if precision == "f32":
            self.props["INFERENCE_PRECISION_HINT"] = "f32"
        self.props.update(properties or {})
        self._pipes: dict[tuple[str, str | None], Any] = {}
        self._streamer_modes: set[str] = set()
        self._last_prompt: dict[tuple[str, str], list[int]] = {}

    def _base_config(self, pipe: Any) -> Any:
        """A default GenerationConfig carrying only the model's EOS / stop token ids.

        Fresh defaults rather than the model's generation_config.json, so no sampling or
        repetition-penalty setting of the model can sneak in (edge-spec does plain greedy).
        The EOS comes from the export's generation_config.json, else the tokenizer: prompt-lookup
        and draft pipelines return ``eos_token_id == -1`` and no stop tokens from
        ``get_generation_config()`` (GenAI 2026.4 still stops at the tokenizer's EOS there, but
        setting it explicitly makes all three modes stop on exactly the same tokens).
        """
        genai = self.genai
        config = genai.GenerationConfig()
        path = self.model_dir / "generation_config.json"
        model_config = genai.GenerationConfig(str(path)) if path.is_file() else pipe.get_generation_config()
        eos = model_config.eos_token_id
        config.set_eos_token_id(eos if eos >= 0 else pipe.get_tokenizer().get_eos_token_id())
        config.stop_token_ids = set(model_config.stop_token_ids) | {config.eos_token_id}
        return config

    def pipeline(self, mode: str = "plain", draft_dir: Path | None = None) -> Any:
        """The (cached) pipeline for ``mode``; built on first request."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        draft = Path(draft_dir) if draft_dir is not None else self.draft_dir
        if mode == "draft" and draft is None:
            raise ValueError("mode='draft' needs a draft_dir (an export_genai_model folder)")
        key = (mode, str(draft) if mode == "draft" else None)
        if key not in self._pipes:
            start = time.perf_counter()
            extra: dict[str, Any] = {}
            if mode == "lookup":
                extra["prompt_lookup"] = True
            elif mode == "draft":
                # Draft model gets the same device properties, so f32 means f32 on both.
                extra["draft_model"] = self.genai.draft_model(str(draft), self.device, **self.props)
            self._pipes[key] = self.genai.LLMPipeline(str(self.model_dir), self.device, **self.props, **extra)
            log.info(
                "GenAI %s pipeline on %s (%s) built in %.1f s",
                mode,
                self.model_dir.name,
                self.precision,
                time.perf_counter() - start,
            )
        return self._pipes[key]

    def generate(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        mode: str = "plain",
        *,
        ignore_eos: bool = False,
        num_assistant_tokens: int = 8,
        max_ngram_size: int = 3,
        draft_dir: Path | None = None,
    ) -> dict[str, Any]:
        """Greedy-generate after ``prompt_ids``; return the new ids and timings.

        ``num_assistant_tokens`` (k) is the number of tokens proposed per step in "lookup" and
        "draft" modes; ``max_ngram_size`` (g) the longest n-gram prompt lookup matches.
        Returns ``tokens`` (generated ids only), ``seconds`` (wall time of the call), ``ttft_s``
        (GenAI's own TTFT; a first-token streamer if that is missing) and
        ``decode_tokens_per_s`` = (tokens - 1) / (seconds - ttft_s).
        """
        genai, ov = self.genai, require("openvino")
        pipe = self.pipeline(mode, draft_dir)
        key = (mode, str(draft_dir))
        if self._last_prompt.get(key) == prompt_ids:
            # LLMPipeline reuses the KV cache of a repeated identical prompt (TTFT 690 -> 130 ms
            # seen on a 691-token prompt): another prompt in between makes a repeat a cold run.
            self._last_prompt[key] = []
            self.generate(FLUSH_IDS, 1, mode, num_assistant_tokens=num_assistant_tokens, draft_dir=draft_dir)
        self._last_prompt[key] = list(prompt_ids)
        config = self._base_config(pipe)
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.num_beams = 1
        config.num_return_sequences = 1
        config.ignore_eos = ignore_eos
        if mode == "lookup":
            config.num_assistant_tokens = num_assistant_tokens
            config.max_ngram_size = max_ngram_size
        elif mode == "draft":
            config.num_assistant_tokens = num_assistant_tokens
        input_ids = ov.Tensor(np.asarray([prompt_ids], dtype=np.int64))

        # A streamer costs a Python call per token, so it is only attached to modes whose
        # perf_metrics turned out to lack a TTFT (none do in GenAI 2026.4: plain, prompt lookup
        # and draft all fill it, and it agrees with a streamer to a fraction of a millisecond).
        timer = _first_token_timer() if mode in self._streamer_modes else None
        start = time.perf_counter()
        result = pipe.generate(input_ids, config, timer)
        seconds = time.perf_counter() - start
        if not isinstance(result, genai.EncodedResults):
            raise TypeError(f"expected EncodedResults for token input, got {type(result).__name__}")
        tokens = [int(t) for t in result.tokens[0]]

        if timer is not None and timer.first is not None:
            ttft_s = timer.first - start
        else:
            try:
                ttft_s = result.perf_metrics.get_ttft().mean / 1000.0
            except RuntimeError:
                ttft_s = float("nan")
            if not (math.isfinite(ttft_s) and ttft_s > 0):
                log.warning("GenAI %s mode reports no TTFT; timing first tokens with a streamer from now on", mode)
                self._streamer_modes.add(mode)
        decode_s = seconds - ttft_s
        decode_rate = (len(tokens) - 1) / decode_s if len(tokens) > 1 and decode_s > 0 else float("nan")
        return {
            "tokens": tokens,
            "seconds": seconds,
            "ttft_s": ttft_s,
            "decode_tokens_per_s": decode_rate,
            "forwards": _target_forwards(result),
        }


def _target_forwards(result: Any) -> int:
    """How many target inferences GenAI ran for one generation (0 if it does not say).

    Prompt lookup and draft pipelines report the main model's own metrics apart from the
    draft's (extended_perf_metrics.main_model_metrics); plain pipelines only perf_metrics. The
    raw metrics hold one duration per inference.
    """
    metrics = getattr(result, "extended_perf_metrics", None)
    main = getattr(metrics, "main_model_metrics", None) if metrics is not None else None
    for source in (main, getattr(result, "perf_metrics", None)):
        try:
            count = len(source.raw_metrics.token_infer_durations)
        except (AttributeError, RuntimeError, TypeError):
            continue
        if count:
            return count
    return 0


class GenAIMode:
    """One GenAI pipeline as a bench mode; its tokens are checked against its plain twin's
    (genai-plain, or genai-plain-f32 for the f32 modes of --genai-f32)."""

    runtime = "genai"

    def __init__(
        self, runner: GenAIRunner, kind: str, settings: dict[str, Any], numerics: str, suffix: str = ""
    ) -> None:
        self.runner = runner
        self.kind = kind
        self.name = f"genai-{kind}{suffix}"
        self.reference = f"genai-plain{suffix}"
        self.numerics = numerics
        self.settings = settings
        self._options = {k: settings[k] for k in ("num_assistant_tokens", "max_ngram_size") if k in settings}

    def run(self, ids: list[int], max_new_tokens: int, ignore_eos: bool) -> RunRecord:
        out = self.runner.generate(ids, max_new_tokens, self.kind, ignore_eos=ignore_eos, **self._options)
        tokens, seconds, ttft = out["tokens"], out["seconds"], out["ttft_s"]
        forwards = out["forwards"] if self.kind != "plain" else len(tokens)
        after_first = seconds - ttft
        return RunRecord(
            tokens=tokens,
            wall_s=seconds,
            ttft_s=ttft,
            tpot_s=after_first / (len(tokens) - 1) if len(tokens) > 1 and after_first > 0 else float("nan"),
            tokens_per_s=len(tokens) / seconds if seconds > 0 else 0.0,
            decode_tokens_per_s=out["decode_tokens_per_s"],
            tau=len(tokens) / forwards if forwards else float("nan"),
            target_forwards=forwards,
            stop_reason="max_new_tokens" if len(tokens) >= max_new_tokens else "eos",
            numerics=self.numerics,
        )

    def close(self) -> None:
        pass


def genai_precision(numerics: str) -> str:
    """GenAI's precision hint for edge-spec's session numerics: f32 when edge-spec computes in f32."""
    return "f32" if numerics in ("exact", "f32") else "default"


def genai_properties(numerics: str) -> dict[str, str]:
    """Device properties beyond the precision hint: in exact mode edge-spec's whole exact config
    (f32 KV cache, no dynamic quantization too), so both runtimes compute the same way."""
    if numerics != "exact":
        return {}
    from edge_spec.runtimes.openvino import EXACT_CONFIG

    return dict(EXACT_CONFIG)


def draft_model_source(manifest: Any) -> Path | None:
    """The HF directory of the bundle's draft model, if its manifest lists one (else None)."""
    for entry in getattr(manifest, "drafters", []) or []:
        if entry.get("kind", entry.get("type")) in ("draft", "draft_model"):
            source = entry.get("source")
            path = source.get("path") if isinstance(source, dict) else source
            if path:
                return Path(path)
    return None


def build_genai_modes(
    config: Any,
    manifest: Any,
    weights: str,
    numerics: str,
    prompt_ids: list[list[int]],
    warm_ids: list[int],
    progress: Callable[[int, int, str], None],
) -> list[GenAIMode]:
    """genai-plain, genai-lookup (best of LOOKUP_SWEEP) and genai-draft (if the bundle has a draft).

    The model is the bundle's source (or config.genai_model: an HF directory, or a folder that
    already is a GenAI export), exported once at the bundle's weight format into
    cache_dir()/genai/. Its precision follows edge-spec's numerics (f32 when edge-spec is f32).
    With config.genai_f32, genai-plain-f32 and genai-lookup-f32 run too: with int4 or int8
    weights GenAI's f32 step can beat its default one, and "GenAI's fastest" must include them.
    """
    from edge_spec.bundle import cache_dir

    require("openvino_genai")
    total = len(prompt_ids)
    source = Path(config.genai_model or manifest.source.get("path", "")).expanduser()
    if not source.is_dir():
        raise EdgeSpecError(f"{source}: the model to export for GenAI is not here; pass --genai-model DIR")
    cache_root = cache_dir() / "genai"
    progress(0, total, "exporting the model for GenAI (once)")
    if is_genai_folder(source):
        model_dir = source
    else:
        # the source's config hash in the name: a re-fetched model of the same name is exported anew
        digest = str(manifest.source.get("config_sha256", ""))[:8] if not config.genai_model else ""
        name = f"{source.name}-{digest}" if digest else source.name
        model_dir = export_genai_model(source, weights, cache_root, name=name)
    precision = genai_precision(numerics)
    properties = genai_properties(numerics)
    runner = GenAIRunner(model_dir, precision, properties=properties, device=config.device)
    base = {"model_dir": str(model_dir), "weights": weights, "precision": precision, "properties": properties}
    modes = [GenAIMode(runner, "plain", dict(base), precision)]

    progress(0, total, "tuning GenAI prompt lookup")
    k, g, sweep = _lookup_sweep(runner, prompt_ids[:SWEEP_PROMPTS], warm_ids, config)
    lookup = base | {"num_assistant_tokens": k, "max_ngram_size": g, "sweep": sweep}
    modes.append(GenAIMode(runner, "lookup", lookup, precision))

    draft_source = draft_model_source(manifest)
    if draft_source is None:
        log.info("the bundle has no draft model: genai-draft skipped")
    else:
        progress(0, total, "exporting the draft model for GenAI (once)")
        if needs_twin(draft_source):  # GenAI needs the target's vocabulary: the draft's twin has it
            draft_source = full_vocabulary_twin(draft_source, manifest.target.vocab_size, cache_root)
        draft_dir = export_genai_model(draft_source, weights, cache_root)
        runner_draft = GenAIRunner(
            model_dir, precision, draft_dir=draft_dir, properties=properties, device=config.device
        )
        progress(0, total, "tuning GenAI draft-model speculative decoding")
        k, sweep = _draft_sweep(runner_draft, prompt_ids[:SWEEP_PROMPTS], warm_ids, config)
        settings = base | {"draft_dir": str(draft_dir), "num_assistant_tokens": k, "sweep": sweep}
        modes.append(GenAIMode(runner_draft, "draft", settings, precision))
    if config.genai_f32 and precision != "f32":
        runner_f32 = GenAIRunner(model_dir, "f32", device=config.device)
        base_f32 = base | {"precision": "f32", "properties": {}}
        modes.append(GenAIMode(runner_f32, "plain", base_f32, "f32", suffix="-f32"))
        progress(0, total, "tuning GenAI prompt lookup at f32")
        k, g, sweep = _lookup_sweep(runner_f32, prompt_ids[:SWEEP_PROMPTS], warm_ids, config)
        lookup = base_f32 | {"num_assistant_tokens": k, "max_ngram_size": g, "sweep": sweep}
        modes.append(GenAIMode(runner_f32, "lookup", lookup, "f32", suffix="-f32"))
    return modes


def _draft_sweep(
    runner: GenAIRunner, prompts: list[list[int]], warm_ids: list[int], config: Any
) -> tuple[int, list[dict[str, Any]]]:
    """Mean tokens/s of each num_assistant_tokens of DRAFT_SWEEP on PROMPTS: the best and the table."""
    runner.generate(warm_ids, config.max_new_tokens, "draft", ignore_eos=config.ignore_eos)
    table = []
    for k in DRAFT_SWEEP:
        rates = []
        for ids in prompts:
            out = runner.generate(
                ids, config.max_new_tokens, "draft", ignore_eos=config.ignore_eos, num_assistant_tokens=k
            )
            rates.append(len(out["tokens"]) / out["seconds"])
        table.append({"num_assistant_tokens": k, "tokens_per_s": statistics.fmean(rates)})
        log.info("GenAI draft model k=%d: %.1f tok/s", k, table[-1]["tokens_per_s"])
    best = max(table, key=lambda row: row["tokens_per_s"])
    return best["num_assistant_tokens"], table


def _lookup_sweep(
    runner: GenAIRunner, prompts: list[list[int]], warm_ids: list[int], config: Any
) -> tuple[int, int, list[dict[str, Any]]]:
    """Mean tokens/s of each (k, g) of LOOKUP_SWEEP on PROMPTS; return the best and the table
    (config.genai_lookup instead, and no table, when the user fixed the setting).

    Tuning on the bench's own first prompts flatters GenAI if anything, which is the safe side
    for a baseline.
    """
    runner.generate(warm_ids, config.max_new_tokens, "lookup", ignore_eos=config.ignore_eos)
    if config.genai_lookup:  # the user's setting: nothing to sweep
        k, g = config.genai_lookup
        return k, g, []
    table = []
    for k, g in LOOKUP_SWEEP:
        rates = []
        for ids in prompts:
            out = runner.generate(
                ids,
                config.max_new_tokens,
                "lookup",
                ignore_eos=config.ignore_eos,
                num_assistant_tokens=k,
                max_ngram_size=g,
            )
            rates.append(len(out["tokens"]) / out["seconds"])
        table.append({"num_assistant_tokens": k, "max_ngram_size": g, "tokens_per_s": statistics.fmean(rates)})
        log.info("GenAI prompt lookup k=%d g=%d: %.1f tok/s", k, g, table[-1]["tokens_per_s"])
    best = max(table, key=lambda row: row["tokens_per_s"])
    return best["num_assistant_tokens"], best["max_ngram_size"], table
