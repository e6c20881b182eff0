"""The machine a benchmark ran on: a speedup means little without the CPU and runtime versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")


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
