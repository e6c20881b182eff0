"""Plain greedy decoding: edge-spec vs OpenVINO GenAI, same model, weights, precision, prompts.

Every mode runs in one process, interleaved prompt by prompt (drift hits all alike), after a
warm-up on a prompt that is not measured. Prompts reach both runtimes as the same token ids.
Each generation is exactly --max-new-tokens long (EOS ignored), so tokens/s compare like for like.

    python benchmarks/plain_decoding.py --limit 20          # ~10 minutes on a 2-core laptop CPU

Writes benchmarks/results/plain_decoding.json and prints the table (markdown with --markdown).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_spec.bench.genai import GenAIRunner, export_genai_model
from edge_spec.bench.machine import least_stolen

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("EDGE_SPEC_SHARED", HERE.parents[1] / "shared"))
log = logging.getLogger("bench")


@dataclass
class Mode:
    name: str
    runtime: str  # "edge-spec" | "genai"
    weights: str
    precision: str  # "default" | "f32" | "auto"
    backend: str = "openvino"
    runner: object = None
    results: list[dict] = field(default_factory=list)


def machine() -> dict:
    import onnxruntime
    import openvino

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    flags = Path("/proc/cpuinfo").read_text()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "amx": "amx_bf16" in flags,
        "python": platform.python_version(),
        "openvino": openvino.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def target_dir() -> Path:
    out = subprocess.run(
        [sys.executable, str(SHARED / "bench" / "get_target.py")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def ensure_bundle(target: Path, root: Path, fmt: str, weights: str) -> Path:
    bundle = root / f"smollm2-{fmt}-{weights}"
    if not (bundle / "edge_spec.json").is_file():
        from edge_spec.export.exporter import ExportOptions, export_model

        log.info("exporting %s", bundle.name)
        export_model(target, bundle, ExportOptions(formats=("openvino" if fmt == "ov" else "onnx",), weights=weights))
    return bundle


class EdgeSpecRunner:
    def __init__(self, bundle: Path, backend: str, precision: str):
        from edge_spec import Pipeline

        self.pipe = Pipeline.load(bundle, backend=backend, numerics=precision)
        self.numerics = self.pipe.session.numerics

    def run(self, ids: list[int], max_new: int) -> dict:
        from edge_spec import GenerationConfig

        start = time.perf_counter()
        res = self.pipe.generate(ids, GenerationConfig(max_new_tokens=max_new, ignore_eos=True))
        wall = time.perf_counter() - start
        return {"tokens": res.tokens, "wall_s": wall, "ttft_s": res.stats.ttft_s}


class GenAIPlain:
    """GenAI's LLMPipeline in plain mode. attention "PA" is its CPU default (PagedAttention,
    whose prefill kernel is about 2x faster than SDPA's on long prompts here); "SDPA" is the
    stateful-SDPA path edge-spec's graph shares, shown for a kernel-for-kernel comparison."""

    def __init__(self, model_dir: Path, precision: str, attention: str = "PA"):
        self.runner = GenAIRunner(model_dir, precision, properties={"ATTENTION_BACKEND": attention})
        self.numerics = precision

    def run(self, ids: list[int], max_new: int) -> dict:
        out = self.runner.generate(ids, max_new, "plain", ignore_eos=True)
        return {"tokens": out["tokens"], "wall_s": out["seconds"], "ttft_s": out["ttft_s"]}


def summarize(mode: Mode) -> dict:
    e2e = [len(r["tokens"]) / r["wall_s"] for r in mode.results]
    dec = [(len(r["tokens"]) - 1) / (r["wall_s"] - r["ttft_s"]) for r in mode.results]
    return {
        "mode": mode.name,
        "runtime": mode.runtime,
        "backend": mode.backend,
        "weights": mode.weights,
        "precision": mode.precision,
        "numerics_used": getattr(mode.runner, "numerics", mode.precision),
        "tokens_per_s": float(np.mean(e2e)),
        "decode_tokens_per_s": float(np.mean(dec)),
        "ttft_s": float(np.mean([r["ttft_s"] for r in mode.results])),
        "prompts": len(mode.results),
        "steal": float(np.mean([r["steal"] for r in mode.results])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=Path, default=SHARED / "bench" / "prompts" / "code.jsonl")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "edge-spec-bench" / "models")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "plain_decoding.json")
    parser.add_argument("--weights", default="fp16,int8,int4", help="OpenVINO weight formats to compare")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    parser.add_argument("--genai-sdpa", action="store_true", help="also GenAI with ATTENTION_BACKEND=SDPA")
    parser.add_argument("--max-steal", type=float, default=0.05, help="re-run a generation above this steal share")
    parser.add_argument("--markdown", action="store_true", help="print the summary as a markdown table")
    parser.add_argument("--report", type=Path, help="only print the tables of an earlier run's JSON")
    args = parser.parse_args()
    if args.report:
        print_report(json.loads(args.report.read_text()), args.markdown)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    target = target_dir()
    args.work.mkdir(parents=True, exist_ok=True)
    modes: list[Mode] = []
    for weights in args.weights.split(","):
        bundle = ensure_bundle(target, args.work, "ov", weights)
        genai_dir = export_genai_model(target, weights, args.work / "genai", name="smollm2")
        for precision in ("default", "f32"):
            modes.append(
                Mode(
                    f"edge-spec ov {weights} {precision}",
                    "edge-spec",
                    weights,
                    precision,
                    runner=EdgeSpecRunner(bundle, "openvino", precision),
                )
            )
            modes.append(
                Mode(
                    f"genai {weights} {precision}",
                    "genai",
                    weights,
                    precision,
                    runner=GenAIPlain(genai_dir, precision),
                )
            )
            if args.genai_sdpa:
                modes.append(
                    Mode(
                        f"genai-sdpa {weights} {precision}",
                        "genai",
                        weights,
                        precision,
                        runner=GenAIPlain(genai_dir, precision, attention="SDPA"),
                    )
                )
        modes.append(
            Mode(
                f"edge-spec ov {weights} auto",
                "edge-spec",
                weights,
                "auto",
                runner=EdgeSpecRunner(bundle, "openvino", "auto"),
            )
        )
    if not args.no_onnx:
        for weights in ("fp32", "int8"):
            bundle = ensure_bundle(target, args.work, "onnx", weights)
            modes.append(
                Mode(
                    f"edge-spec ort {weights}",
                    "edge-spec",
                    weights,
                    "f32",
                    "onnxruntime",
                    runner=EdgeSpecRunner(bundle, "onnxruntime", "f32"),
                )
            )

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(target)
    rows = [json.loads(line) for line in args.prompts.read_text().splitlines() if line.strip()][: args.limit]
    prompts = [tokenizer(row["prompt"])["input_ids"] for row in rows]
    warm = tokenizer("def warm_up(x):\n    return x + 1\n")["input_ids"]
    for mode in modes:
        mode.runner.run(warm, 16)
    for i, ids in enumerate(prompts):
        for mode in modes:
            run = functools.partial(mode.runner.run, ids, args.max_new_tokens)
            result, steal, _ = least_stolen(run, args.max_steal, mode.name)
            mode.results.append(result | {"steal": steal})
        log.info("prompt %d/%d (%d tokens) done", i + 1, len(prompts), len(ids))
        partial = {m.name: [{k: v for k, v in r.items() if k != "tokens"} for r in m.results] for m in modes}
        args.out.with_suffix(".partial.json").write_text(json.dumps(partial))

    summary = [summarize(m) for m in modes]
    by_name = {s["mode"]: s for s in summary}
    pairs = []
    baselines = ["genai", "genai-sdpa"] if args.genai_sdpa else ["genai"]
    results_of = {m.name: m.results for m in modes}
    for weights, precision, baseline in itertools.product(args.weights.split(","), ("default", "f32"), baselines):
        ours, theirs = f"edge-spec ov {weights} {precision}", f"{baseline} {weights} {precision}"
        same = sum(a["tokens"] == b["tokens"] for a, b in zip(results_of[ours], results_of[theirs]))
        pairs.append(
            {
                "weights": weights,
                "precision": precision,
                "baseline": baseline,
                "edge_spec_tokens_per_s": by_name[ours]["tokens_per_s"],
                "genai_tokens_per_s": by_name[theirs]["tokens_per_s"],
                "ratio": by_name[ours]["tokens_per_s"] / by_name[theirs]["tokens_per_s"],
                "decode_ratio": by_name[ours]["decode_tokens_per_s"] / by_name[theirs]["decode_tokens_per_s"],
                "same_tokens_as_genai": f"{same}/{len(prompts)}",
            }
        )
    report = {
        "machine": machine(),
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized, ../shared/bench/get_target.py)",
        "prompts": str(args.prompts),
        "limit": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "summary": summary,
        "pairs": pairs,
        "per_prompt": {
            m.name: [{k: v for k, v in r.items() if k != "tokens"} | {"n": len(r["tokens"])} for r in m.results]
            for m in modes
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_report(report, args.markdown)


def print_report(report: dict, markdown: bool) -> None:
    m = report["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores, AMX {m['amx']}, OpenVINO {m['openvino']}, ORT {m['onnxruntime']}")
    print(f"{report['model']}; {report['limit']} prompts, {report['max_new_tokens']} new tokens, greedy\n")
    print("| mode | numerics | tok/s e2e | tok/s decode | TTFT ms | steal % |")
    print("|---|---|---|---|---|---|")
    for s in report["summary"]:
        print(
            f"| {s['mode']} | {s['numerics_used']} | {s['tokens_per_s']:.1f} | {s['decode_tokens_per_s']:.1f} "
            f"| {s['ttft_s'] * 1000:.0f} | {s.get('steal', 0.0) * 100:.1f} |"
        )
    print("\n| weights | precision | baseline | edge-spec tok/s | baseline tok/s | ratio e2e | ratio decode |", end="")
    print(" same tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for p in report["pairs"]:
        print(
            f"| {p['weights']} | {p['precision']} | {p['baseline']} | {p['edge_spec_tokens_per_s']:.1f} | "
            f"{p['genai_tokens_per_s']:.1f} | {p['ratio']:.2f} | {p['decode_ratio']:.2f} | "
            f"{p['same_tokens_as_genai']} |"
        )


if __name__ == "__main__":
    main()
