"""The benchmark run: every mode in one process, interleaved prompt by prompt.

Interleaving (for each prompt, each mode in turn) spreads thermal and background drift over all
modes alike, so their ratio (the speedup) stays honest on a noisy laptop. Each mode is warmed up
on a prompt that is not measured, and not one of the bench's: OpenVINO GenAI reuses the KV cache
of a repeated identical prompt. Generation is greedy; every mode gets the same token ids.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_spec.bench.audit import IDENTICAL, MISMATCH, Verdict, audit_tokens, first_difference
from edge_spec.bench.machine import describe_machine, least_stolen, peak_rss_mib
from edge_spec.bench.modes import PLAIN, EdgeSpecMode, Mode, RunRecord
from edge_spec.bench.prompts import BenchPrompt, load_prompts
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

WARMUP_LONG_NEW_TOKENS = 4  # after the long warm-up prompt (see _warm_up)
WARMUP_TEXT = "Write a short Python function that returns the sum of the squares of a list of numbers."
# on_progress(prompts done, prompts in all, what is running)
ProgressCallback = Callable[[int, int, str], None]


@dataclass
class BenchConfig:
    """What `edge-spec bench` was asked to do. Invalid values raise EdgeSpecError at construction."""

    bundle: Path
    prompts_file: Path
    drafters: tuple[str, ...] = (PLAIN,)
    limit: int | None = None
    max_new_tokens: int = 128
    warmup: int = 1
    repeat: int = 1
    exact: bool = False
    backend: str = "openvino"
    device: str = "CPU"
    ignore_eos: bool = False
    compare_genai: bool = False
    genai_model: Path | None = None
    genai_f32: bool = False  # also GenAI at f32 compute (plain and prompt lookup)
    genai_lookup: tuple[int, int] | None = None  # GenAI's lookup (k, g) as given instead of swept
    ngram_db: Path | None = None  # the static n-gram DB (default: the bundle's, if it has one)
    max_steal: float = 0.05  # re-run a generation that lost more CPU time than this to other VMs

    def __post_init__(self) -> None:
        from edge_spec.drafters import DRAFTERS

        self.bundle, self.prompts_file = Path(self.bundle), Path(self.prompts_file)
        names = [d.strip() for d in self.drafters if d.strip()]
        unknown = [d for d in names if d not in DRAFTERS]
        if unknown:
            raise EdgeSpecError(f"--drafter {','.join(unknown)}: unknown; choose from {', '.join(DRAFTERS)}")
        # plain decoding is always the baseline, and runs first
        self.drafters = tuple(dict.fromkeys([PLAIN, *names]))
        for option, value, least in (("--max-new-tokens", self.max_new_tokens, 1), ("--warmup", self.warmup, 0)):
            if value < least:
                raise EdgeSpecError(f"{option} must be at least {least}, got {value}")
        if self.genai_lookup is not None:
            k, g = self.genai_lookup
            if k < 1 or g < 1:
                raise EdgeSpecError(f"--genai-lookup K,G takes two positive numbers, got {k},{g}")
        if self.repeat < 1:
            raise EdgeSpecError(f"--repeat must be at least 1, got {self.repeat}")
        if not 0.0 < self.max_steal <= 1.0:
            raise EdgeSpecError(f"--max-steal is a share of CPU time in (0, 1] (1: never re-run), got {self.max_steal}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "prompts_file": str(self.prompts_file),
            "drafters": list(self.drafters),
            "limit_per_category": self.limit,
            "max_new_tokens": self.max_new_tokens,
            "warmup": self.warmup,
            "repeat": self.repeat,
            "exact": self.exact,
            "backend": self.backend,
            "device": self.device,
            "ignore_eos": self.ignore_eos,
            "compare_genai": self.compare_genai,
            "genai_f32": self.genai_f32,
            "genai_lookup": list(self.genai_lookup) if self.genai_lookup else None,
            "max_steal": self.max_steal,
        }


@dataclass
class ModeInfo:
    """A mode as the report shows it. peak_rss_mib: the process's peak after its first run."""

    name: str
    runtime: str
    reference: str
    numerics: str
    settings: dict[str, Any] = field(default_factory=dict)
    peak_rss_mib: float = 0.0


@dataclass
class PromptResult:
    prompt: BenchPrompt
    prompt_tokens: int
    records: dict[str, RunRecord]
    verdicts: dict[str, Verdict]


@dataclass
class BenchResult:
    config: BenchConfig
    machine: dict[str, Any]
    modes: list[ModeInfo]
    prompts: list[PromptResult]
    skipped: list[dict[str, str]] = field(default_factory=list)
    steal_reruns: int = 0  # generations measured again because the hypervisor stole CPU time

    def mismatches(self, runtime: str | None = None) -> int:
        """Outputs that differ from their reference beyond a near-tie (of RUNTIME's modes, or all)."""
        names = {m.name for m in self.modes if runtime is None or m.runtime == runtime}
        return sum(v.status == MISMATCH for p in self.prompts for name, v in p.verdicts.items() if name in names)


def run_bench(config: BenchConfig, on_progress: ProgressCallback | None = None) -> BenchResult:
    """Load every mode, warm each up, then measure every prompt with every mode in turn."""
    from edge_spec.bundle import load_manifest

    prompts = load_prompts(config.prompts_file, config.limit)  # bad input fails before any model loads
    _, manifest = load_manifest(config.bundle)
    weights = bundle_weights(manifest, config.backend)
    progress = on_progress or (lambda done, total, what: None)
    total = len(prompts)

    modes: list[Mode] = []
    rss: dict[str, float] = {}
    results: list[PromptResult] = []
    reruns = 0
    try:
        progress(0, total, f"loading {PLAIN}")
        plain = EdgeSpecMode(config.bundle, PLAIN, config.backend, config.device, config.exact, config.ngram_db)
        modes.append(plain)
        encoded, skipped = _encode_all(plain, prompts)
        if not encoded:
            raise EdgeSpecError(f"{config.prompts_file}: no prompt fits this model's context; see the warnings above")
        warm_ids = plain.encode(BenchPrompt("warmup", "warmup", WARMUP_TEXT, chat=prompts[0].chat).as_input())
        # as long as the longest prompt, but none of the prompts: GenAI's prefix cache would
        # otherwise hand that prompt's prefill to its next run for free
        longest = max(len(ids) for _, ids in encoded)
        long_ids = (warm_ids * (longest // len(warm_ids) + 1))[:longest]
        _warm_up(plain, warm_ids, config, rss, progress, total, long_ids)
        for drafter in config.drafters[1:]:
            progress(0, total, f"loading {drafter}")
            modes.append(
                EdgeSpecMode(config.bundle, drafter, config.backend, config.device, config.exact, config.ngram_db)
            )
            _warm_up(modes[-1], warm_ids, config, rss, progress, total, long_ids)
        if config.compare_genai:
            from edge_spec.bench.genai import build_genai_modes

            progress(0, total, "preparing OpenVINO GenAI")
            all_ids = [ids for _, ids in encoded]
            for mode in build_genai_modes(config, manifest, weights, plain.numerics, all_ids, warm_ids, progress):
                modes.append(mode)
                _warm_up(mode, warm_ids, config, rss, progress, total, long_ids)

        for done, (prompt, ids) in enumerate(encoded):
            progress(done, len(encoded), f"{prompt.category} {prompt.prompt_id}")
            records, repeated = _measure(modes, ids, config, rss)
            reruns += repeated
            verdicts = _audit(modes, records, weights)
            results.append(PromptResult(prompt, len(ids), records, verdicts))
            _log_divergences(prompt, verdicts)
        progress(len(encoded), len(encoded), "done")
    finally:
        for mode in modes:
            mode.close()
    machine = describe_machine(
        backend=config.backend,
        device=config.device,
        weights=weights,
        numerics=plain.numerics,
        exact=config.exact,
        bundle=str(config.bundle),
        source=manifest.source.get("path"),
    )
    infos = [
        ModeInfo(m.name, m.runtime, m.reference, m.numerics, dict(m.settings), rss.get(m.name, 0.0)) for m in modes
    ]
    return BenchResult(config, machine, infos, results, skipped, reruns)


def bundle_weights(manifest, backend: str) -> str:  # noqa: ANN001
    """The weight format of the graph BACKEND loads (the manifest records what was stored)."""
    fmt = "openvino" if backend == "openvino" else "onnx"
    entry = manifest.target.formats.get(fmt) or next(iter(manifest.target.formats.values()), {})
    return str(entry.get("weights", ""))


def _warm_up(
    mode: Mode,
    ids: list[int],
    config: BenchConfig,
    rss: dict[str, float],
    progress: ProgressCallback,
    total: int,
    long_ids: list[int],
) -> None:
    """A whole generation on IDS, then a prefill of LONG_IDS (as long as the set's longest prompt).

    The first prefill of several hundred tokens after a model is compiled costs about a second
    more than the next ones on OpenVINO's CPU plugin (SmolLM2-135M, 691 tokens: 1.7 s, then
    0.85 s; 2-core Xeon, 2026.4). Without the long warm-up the first prompt paid it in every mode
    but GenAI's prompt lookup, whose settings sweep had already run the first prompts.
    """
    for _ in range(config.warmup):
        progress(0, total, f"warming up {mode.name}")
        mode.run(ids, config.max_new_tokens, config.ignore_eos)
        mode.run(long_ids, WARMUP_LONG_NEW_TOKENS, config.ignore_eos)
        rss.setdefault(mode.name, peak_rss_mib())


def _encode_all(plain: EdgeSpecMode, prompts: list[BenchPrompt]) -> tuple[list[tuple[BenchPrompt, list[int]]], list]:
    """Token ids of every prompt, through plain's tokenizer (so every mode gets the same ids)."""
    encoded, skipped = [], []
    for prompt in prompts:
        try:
            encoded.append((prompt, plain.encode(prompt.as_input())))
        except EdgeSpecError as exc:
            log.warning("prompt %s skipped: %s", prompt.prompt_id, exc)
            skipped.append({"prompt_id": prompt.prompt_id, "category": prompt.category, "reason": str(exc)})
    return encoded, skipped


def _measure(
    modes: list[Mode], ids: list[int], config: BenchConfig, rss: dict[str, float]
) -> tuple[dict[str, RunRecord], int]:
    """Each mode's median-time record of --repeat runs, the modes taking turns within each repeat,
    and how many runs were measured again because the hypervisor stole their CPU time."""
    runs: dict[str, list[RunRecord]] = {m.name: [] for m in modes}
    reruns = 0
    for _ in range(config.repeat):
        for mode in modes:
            run = functools.partial(mode.run, ids, config.max_new_tokens, config.ignore_eos)
            record, steal, repeated = least_stolen(run, config.max_steal, mode.name)
            record.steal = steal
            reruns += repeated
            runs[mode.name].append(record)
            rss.setdefault(mode.name, peak_rss_mib())
    return {name: median_run(records) for name, records in runs.items()}, reruns


def median_run(records: list[RunRecord]) -> RunRecord:
    """The run whose wall time is the median (the lower one of an even count): a real run, so
    its tokens/s, TTFT and TPOT belong together."""
    ordered = sorted(records, key=lambda r: r.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def _audit(modes: list[Mode], records: dict[str, RunRecord], weights: str) -> dict[str, Verdict]:
    """Each mode against its reference; GenAI logs no logits, so plain's margins stand in for its
    reference's wherever the two agree up to the divergence (the same model, another runtime)."""
    plain = records[PLAIN]
    verdicts: dict[str, Verdict] = {}
    for mode in modes:
        if mode.name == mode.reference:
            verdicts[mode.name] = Verdict(IDENTICAL)
            continue
        ref, rec = records[mode.reference], records[mode.name]
        margins, top1 = ref.margins, ref.top1_logits
        if margins is None:
            diff = first_difference(ref.tokens, rec.tokens)
            if diff is not None and ref.tokens[: diff + 1] == plain.tokens[: diff + 1]:
                margins, top1 = plain.margins, plain.top1_logits
        verdicts[mode.name] = audit_tokens(ref.tokens, rec.tokens, margins, top1, mode.numerics, weights)
    return verdicts


def _log_divergences(prompt: BenchPrompt, verdicts: dict[str, Verdict]) -> None:
    for name, verdict in verdicts.items():
        if verdict.status == MISMATCH:
            log.warning(
                "%s: mode %s departs from its reference at token %s (margin %s, tolerance %s)",
                prompt.prompt_id,
                name,
                verdict.first_diff,
                verdict.margin,
                verdict.tolerance,
            )
