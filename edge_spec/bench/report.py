"""Turning a bench run into summary rows, the JSON report and the terminal table.

Figures are named as DESIGN.md "Metrics" says: tokens/s is end to end (prefill included) unless
it says decode; speedup is the ratio of mean tokens/s over the same prompts (Spec-Bench's
definition), against the mode's reference: plain edge-spec decoding for edge-spec modes,
genai-plain for GenAI's (speedup_vs_plain is always against edge-spec's plain decoding); tau is
tokens emitted per target forward over all the category's generations (plain: 1.00).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edge_spec.bench.audit import IDENTICAL, MISMATCH, NEAR_TIE
from edge_spec.bench.modes import PLAIN
from edge_spec.bench.prompts import OVERALL
from edge_spec.bench.runner import BenchResult, PromptResult
from edge_spec.bundle import atomic_write_text

SCHEMA_VERSION = 1
STEAL_SHOWN = 0.005  # the table gets a steal column once any row lost half a percent to other VMs


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _mean_per_depth(lists: list[list[float]]) -> list[float]:
    """Element-wise mean; depth d averages the generations whose trees reached it."""
    depth = max((len(x) for x in lists), default=0)
    return [_mean([x[d] for x in lists if d < len(x)]) for d in range(depth)]


def categories(result: BenchResult) -> list[str]:
    """The prompt categories in file order, then OVERALL."""
    return [*dict.fromkeys(p.prompt.category for p in result.prompts), OVERALL]


def summary_rows(result: BenchResult) -> list[dict[str, Any]]:
    """One row per mode and category (OVERALL last for each mode), every figure a plain number."""
    rows = []
    for category in categories(result):
        chosen = [p for p in result.prompts if category in (OVERALL, p.prompt.category)]
        base_rate = {m.name: _mean([p.records[m.name].tokens_per_s for p in chosen]) for m in result.modes}
        for mode in result.modes:
            records = [p.records[mode.name] for p in chosen]
            statuses = [p.verdicts[mode.name].status for p in chosen]
            rate = base_rate[mode.name]
            forwards = sum(r.target_forwards for r in records)
            tau = sum(r.new_tokens for r in records) / forwards if forwards else _mean([r.tau for r in records])
            rows.append(
                {
                    "mode": mode.name,
                    "runtime": mode.runtime,
                    "category": category,
                    "prompts": len(records),
                    "tokens_per_s": rate,
                    "decode_tokens_per_s": _mean([r.decode_tokens_per_s for r in records]),
                    "speedup": rate / base_rate[mode.reference],
                    "speedup_vs_plain": rate / base_rate[PLAIN],
                    "tau": tau,
                    "accepted_per_depth": _mean_per_depth([r.accepted_per_depth for r in records]),
                    "new_tokens": _mean([float(r.new_tokens) for r in records]),
                    "ttft_s": _mean([r.ttft_s for r in records]),
                    "tpot_s": _mean([r.tpot_s for r in records]),
                    "identical": statuses.count(IDENTICAL),
                    "near_ties": statuses.count(NEAR_TIE),
                    "mismatches": statuses.count(MISMATCH),
                    "peak_rss_mib": mode.peak_rss_mib,
                    "numerics": mode.numerics,
                    "steal": _mean([r.steal for r in records]),
                }
            )
    order = {m.name: i for i, m in enumerate(result.modes)}
    return sorted(rows, key=lambda r: order[r["mode"]])  # stable: categories keep their order


def _prompt_entry(p: PromptResult) -> dict[str, Any]:
    results = {}
    for name, record in p.records.items():
        verdict = p.verdicts[name]
        entry = record.figures() | {"verdict": verdict.to_dict()}
        if name == PLAIN or verdict.status != IDENTICAL:  # the others' tokens are plain's
            entry["tokens"] = record.tokens
        results[name] = entry
    return {
        "prompt_id": p.prompt.prompt_id,
        "category": p.prompt.category,
        "chat_template": p.prompt.chat,
        "prompt_tokens": p.prompt_tokens,
        "results": results,
    }


def report_dict(result: BenchResult) -> dict[str, Any]:
    """The JSON report: machine, config, modes, summary rows and every per-prompt figure."""
    return {
        "schema_version": SCHEMA_VERSION,
        "machine": result.machine,
        "config": result.config.to_dict(),
        "modes": [
            {
                "name": m.name,
                "runtime": m.runtime,
                "reference": m.reference,
                "numerics": m.numerics,
                "settings": m.settings,
                "peak_rss_mib": m.peak_rss_mib,
            }
            for m in result.modes
        ],
        "peak_rss_note": "process peak RSS after each mode's first run; every mode shares one process",
        "summary": summary_rows(result),
        "prompts": [_prompt_entry(p) for p in result.prompts],
        "skipped": result.skipped,
        "steal_reruns": result.steal_reruns,
    }


def write_json(result: BenchResult, path: str | Path) -> None:
    """Write the report atomically (a temp file renamed), so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(report_dict(result)), indent=1, allow_nan=False)
    atomic_write_text(path, text + "\n")


def json_safe(value: Any) -> Any:
    """NaN and infinities (a figure nobody measured) become null: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def summary_table(rows: list[dict[str, Any]], title: str = ""):  # noqa: ANN201
    """A rich Table of the summary rows (the CLI prints it; the library never does)."""
    from rich.table import Table

    show_vs_plain = any(r["runtime"] != "edge-spec" for r in rows)
    show_steal = any(r.get("steal", 0.0) >= STEAL_SHOWN for r in rows)
    table = Table(title=title or None, title_justify="left")
    table.add_column("mode", no_wrap=True)
    table.add_column("category", no_wrap=True)
    numeric = ["tok/s", "decode\ntok/s", "speedup", *(["vs\nnone"] if show_vs_plain else []), "tau"]
    numeric += ["identical/\nnear-tie/\nmismatch", "TTFT\nms", "TPOT\nms", *(["steal\n%"] if show_steal else [])]
    for header in numeric:
        table.add_column(header, justify="right", no_wrap=True)
    previous = None
    for r in rows:
        if previous is not None and r["mode"] != previous:
            table.add_section()
        previous = r["mode"]
        bold = "[bold]" if r["category"] == OVERALL else ""
        audit = f"{r['identical']}/{r['near_ties']}/" + (f"[bold red]{r['mismatches']}[/]" if r["mismatches"] else "0")
        cells = [r["mode"], f"{bold}{r['category']}", _num(r["tokens_per_s"], 1), _num(r["decode_tokens_per_s"], 1)]
        cells.append(f"{bold}{_num(r['speedup'], 2)}x")
        if show_vs_plain:
            cells.append(f"{_num(r['speedup_vs_plain'], 2)}x")
        cells += [_num(r["tau"], 2), audit, _num(r["ttft_s"] * 1000, 0), _num(r["tpot_s"] * 1000, 1)]
        if show_steal:
            cells.append(_num(r["steal"] * 100, 1))
        table.add_row(*cells)
    return table


def _num(value: float, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
