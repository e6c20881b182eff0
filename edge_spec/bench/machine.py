"""The machine a benchmark ran on: a speedup means little without the CPU and runtime versions."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")
# A generation during which the hypervisor took more than the allowed share of CPU time is run
# again, up to STEAL_RETRIES times after a growing pause; the least-stolen run is kept.
STEAL_RETRIES = 3
STEAL_PAUSE_S = 2.0
log = logging.getLogger(__name__)


def cpu_description() -> dict[str, Any]:
    """CPU model, logical cores and the ISA flags that decide OpenVINO's kernels (AMX, AVX-512)."""
    model, flags = platform.processor() or platform.machine(), set()
    if CPUINFO.is_file():
        for line in CPUINFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "amx": "amx_bf16" in flags or "amx_tile" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "avx512": "avx512f" in flags,
    }


def package_version(name: str) -> str | None:
    """An installed distribution's version, None when it is absent (optional extras)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(**run: Any) -> dict[str, Any]:
    """CPU, OS, Python and runtime versions, plus RUN (backend, device, weights, numerics...)."""
    return {
        **cpu_description(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "edge_spec": package_version("edge-spec"),
        "openvino": package_version("openvino"),
        "onnxruntime": package_version("onnxruntime"),
        "openvino_genai": package_version("openvino-genai"),
        **run,
    }


def peak_rss_mib() -> float:
    """The process's peak resident set so far, in MiB (it only grows: a high-water mark).

    One process runs every mode, so this cannot be split per mode: the bench reads it after
    each mode's first run, which shows what loading and first running that mode added on top.
    """
    try:
        import resource
    except ImportError:  # Windows: the working set's peak
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # macOS: bytes, Linux: KiB


def parse_cpu_times(stat_text: str) -> tuple[int, int] | None:
    """(steal, total) clock ticks of all CPUs from /proc/stat's "cpu" line; None without one.

    Steal is the time a virtual CPU was ready to run while the hypervisor ran another guest: on
    a shared cloud VM it comes in bursts that can slow a generation 2-3x for a minute (seen on a
    2-core Xeon VM: 30-44% stolen while a bench ran), far beyond any speedup being measured.
    """
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(v) for v in fields[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice, inside user/nice]
            total = sum(ticks[:8])
            return (ticks[7] if len(ticks) > 7 else 0), total
    return None


def cpu_times() -> tuple[int, int] | None:
    """This machine's (steal, total) CPU ticks so far; None where /proc/stat is absent."""
    try:
        return parse_cpu_times(PROC_STAT.read_text())
    except OSError:
        return None


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    """The share of CPU time stolen between two cpu_times() readings (0.0 when unknown)."""
    if before is None or after is None or after[1] <= before[1]:
        return 0.0
    return max(0.0, (after[0] - before[0]) / (after[1] - before[1]))


def least_stolen(run: Callable[[], T], max_steal: float, label: str) -> tuple[T, float, int]:
    """RUN() again while the hypervisor stole more than MAX_STEAL of its CPU time: (the result of
    the least-stolen run, its steal share, how many runs were repeated).

    Interleaving modes evens out slow drift, not a burst of steal that hits one run only; a
    pause before each retry lets a burst pass.
    """
    best, best_steal, reruns = None, 0.0, 0
    for attempt in range(STEAL_RETRIES + 1):
        if attempt:
            reruns += 1
            log.info("%s: %.0f%% of CPU time stolen by the hypervisor; measuring again", label, best_steal * 100)
            time.sleep(STEAL_PAUSE_S * attempt)
        before = cpu_times()
        result = run()
        steal = steal_share(before, cpu_times())
        if attempt == 0 or steal < best_steal:
            best, best_steal = result, steal
        if best_steal <= max_steal:
            break
    return best, best_steal, reruns
