"""OpenVINO GenAI as a baseline for edge-spec, run side by side with our runtime in one process.

Two pieces:

* ``export_genai_model`` turns the bench target (an HF model directory) into the folder layout
  ``openvino_genai.LLMPipeline`` loads: optimum-intel's stateful IR at a chosen weight format plus
  openvino_tokenizers' tokenizer/detokenizer. Exports are cached and written atomically.
* ``GenAIRunner`` drives ``LLMPipeline`` with the *same token ids* edge-spec sees (no
  re-tokenisation, so prompts are identical byte for byte), greedy, in plain, prompt-lookup or
  draft-model speculative mode, and reports wall time, TTFT and decode rate.

Run as a script for a quick smoke benchmark (plain vs prompt lookup on code.jsonl):

    HF_HUB_OFFLINE=1 python benchmarks/genai_baseline.py --weights fp16 --precision f32 --limit 3
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino_genai as genai

log = logging.getLogger(__name__)

WEIGHTS = ("fp16", "int8", "int4")
PRECISIONS = ("default", "f32")
MODES = ("plain", "lookup", "draft")
DEVICE = "CPU"
# Written last into an export folder: its presence means the folder is complete.
EXPORT_MARKER = "genai_export.json"
_REQUIRED = ("openvino_model.xml", "openvino_tokenizer.xml", "openvino_detokenizer.xml", EXPORT_MARKER)


def _quantization_config(weights: str, int4_sym: bool) -> Any:
    """optimum-intel weight compression matching what the CLI does for ``--weight-format``.

    int8: NNCF int8 asymmetric per-channel (group_size=-1) on every layer, which is what
    ``optimum-cli export openvino --weight-format int8`` builds. int4: group size 64 because the
    hidden size 576 is not a multiple of optimum's default 128, ratio 1.0 so every eligible layer
    is int4 (NNCF still keeps the embedding / tied lm_head in int8 backup precision, as the CLI
    does). fp16: no NNCF at all (``None``).
    """
    from optimum.intel import OVWeightQuantizationConfig

    if weights == "fp16":
        return None
    if weights == "int8":
        return OVWeightQuantizationConfig(bits=8, sym=False, group_size=-1, ratio=1.0)
    return OVWeightQuantizationConfig(bits=4, sym=int4_sym, group_size=64, ratio=1.0)


def _weight_element_counts(model: ov.Model) -> dict[str, int]:
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


def export_genai_model(target_dir: Path, weights: str, cache_root: Path, *, int4_sym: bool = False) -> Path:
    """Export ``target_dir`` (HF model folder) for ``openvino_genai.LLMPipeline``; return the folder.

    The result lives in ``cache_root / f"smollm2-{weights}"`` (``-sym`` appended for symmetric
    int4) and is reused when complete. The export goes to a temporary sibling folder that is
    renamed at the end, so an interrupted export never leaves a half-written folder behind.

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
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    target_dir, cache_root = Path(target_dir), Path(cache_root)
    out = cache_root / (f"smollm2-{weights}" + ("-sym" if weights == "int4" and int4_sym else ""))
    if all((out / name).is_file() for name in _REQUIRED):
        log.debug("GenAI export %s already present", out)
        return out

    # Heavy, export-only imports (torch, optimum) stay here so the runner does not pay for them.
    import openvino_tokenizers
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoTokenizer

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
        if all((out / name).is_file() for name in _REQUIRED):  # another process won the race
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


class _FirstTokenTimer(genai.StreamerBase):
    """Streamer that only notes when the first token arrives (TTFT fallback)."""

    def __init__(self) -> None:
        super().__init__()
        self.first: float | None = None

    def write(self, token: int | list[int]) -> genai.StreamingStatus:
        if self.first is None:
            self.first = time.perf_counter()
        return genai.StreamingStatus.RUNNING

    def end(self) -> None:
        pass


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
        self.model_dir = Path(model_dir)
        self.precision = precision
        self.draft_dir = Path(draft_dir) if draft_dir is not None else None
        self.device = device
        self.props: dict[str, Any] = {}
        if precision == "f32":
            self.props["INFERENCE_PRECISION_HINT"] = "f32"
        self.props.update(properties or {})
        self._pipes: dict[tuple[str, str | None], genai.LLMPipeline] = {}
        self._streamer_modes: set[str] = set()

    def _base_config(self, pipe: genai.LLMPipeline) -> genai.GenerationConfig:
        """A default GenerationConfig carrying only the model's EOS / stop token ids.

        Fresh defaults rather than the model's generation_config.json, so no sampling or
        repetition-penalty setting of the model can sneak in (edge-spec does plain greedy).
        The EOS comes from the export's generation_config.json, else the tokenizer: prompt-lookup
        and draft pipelines return ``eos_token_id == -1`` and no stop tokens from
        ``get_generation_config()`` (GenAI 2026.4 still stops at the tokenizer's EOS there, but
        setting it explicitly makes all three modes stop on exactly the same tokens).
        """
        config = genai.GenerationConfig()
        path = self.model_dir / "generation_config.json"
        model_config = genai.GenerationConfig(str(path)) if path.is_file() else pipe.get_generation_config()
        eos = model_config.eos_token_id
        config.set_eos_token_id(eos if eos >= 0 else pipe.get_tokenizer().get_eos_token_id())
        config.stop_token_ids = set(model_config.stop_token_ids) | {config.eos_token_id}
        return config

    def pipeline(self, mode: str = "plain", draft_dir: Path | None = None) -> genai.LLMPipeline:
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
                extra["draft_model"] = genai.draft_model(str(draft), self.device, **self.props)
            self._pipes[key] = genai.LLMPipeline(str(self.model_dir), self.device, **self.props, **extra)
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
        pipe = self.pipeline(mode, draft_dir)
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
        timer = _FirstTokenTimer() if mode in self._streamer_modes else None
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
        return {"tokens": tokens, "seconds": seconds, "ttft_s": ttft_s, "decode_tokens_per_s": decode_rate}


def _main() -> None:
    """Smoke benchmark: per-prompt tok/s of plain vs prompt lookup, and whether they agree."""
    import argparse

    here = Path(__file__).resolve().parent
    shared = Path(os.environ.get("EDGE_SPEC_SHARED", here.parents[1] / "shared"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, default=Path.home() / ".cache/edge-spec-bench/smollm2-135m-instruct")
    parser.add_argument("--cache-root", type=Path, default=Path.home() / ".cache/edge-spec-bench/models/genai")
    parser.add_argument("--weights", choices=WEIGHTS, default="fp16")
    parser.add_argument("--precision", choices=PRECISIONS, default="f32")
    parser.add_argument("--prompts", type=Path, default=shared / "bench" / "prompts" / "code.jsonl")
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("-k", "--num-assistant-tokens", type=int, default=8)
    parser.add_argument("-g", "--max-ngram-size", type=int, default=3)
    parser.add_argument("--stop-at-eos", action="store_true", help="stop at EOS (default: always generate N tokens)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    start = time.perf_counter()
    model_dir = export_genai_model(args.target, args.weights, args.cache_root)
    print(f"model: {model_dir} (ready in {time.perf_counter() - start:.1f} s)")

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(args.target), local_files_only=True)
    rows = [json.loads(line) for line in args.prompts.read_text().splitlines() if line.strip()][: args.limit]
    prompts = [tok(row["prompt"])["input_ids"] for row in rows]

    runner = GenAIRunner(model_dir, args.precision)
    lookup_kw = {"num_assistant_tokens": args.num_assistant_tokens, "max_ngram_size": args.max_ngram_size}
    warm = tok("def warm_up(x):\n    return x + 1\n")["input_ids"]
    runner.generate(warm, 16, "plain")
    runner.generate(warm, 16, "lookup", **lookup_kw)

    k, g = args.num_assistant_tokens, args.max_ngram_size
    print(f"\n{args.weights} / {args.precision}, {args.max_new_tokens} new tokens, lookup k={k} g={g}")
    print(f"{'prompt':<16}{'len':>5}{'plain tok/s':>13}{'lookup tok/s':>14}{'speed-up':>10}{'n':>5}  same")
    plain_rates, lookup_rates, same = [], [], 0
    for row, ids in zip(rows, prompts):
        plain = runner.generate(ids, args.max_new_tokens, "plain", ignore_eos=not args.stop_at_eos)
        lookup = runner.generate(ids, args.max_new_tokens, "lookup", ignore_eos=not args.stop_at_eos, **lookup_kw)
        p_rate = len(plain["tokens"]) / plain["seconds"]
        l_rate = len(lookup["tokens"]) / lookup["seconds"]
        plain_rates.append(p_rate)
        lookup_rates.append(l_rate)
        equal = plain["tokens"] == lookup["tokens"]
        same += equal
        print(
            f"{row['question_id']:<16}{len(ids):>5}{p_rate:>13.1f}{l_rate:>14.1f}{l_rate / p_rate:>9.2f}x"
            f"{len(plain['tokens']):>5}  {equal}"
        )
    print(
        f"{'mean':<16}{'':>5}{np.mean(plain_rates):>13.1f}{np.mean(lookup_rates):>14.1f}"
        f"{np.mean(lookup_rates) / np.mean(plain_rates):>9.2f}x       {same}/{len(rows)} same"
    )


if __name__ == "__main__":
    _main()
