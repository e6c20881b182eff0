"""A PNG of a bench run: speedup and tau per category, one bar per mode (two panels).

matplotlib is imported here only, with the Agg backend (no display needed), so a missing
matplotlib costs nothing unless --plot is asked for.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from edge_spec.errors import EdgeSpecError


def plot_summary(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Draw the summary rows (report.summary_rows) to PATH, written atomically; return PATH."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgeSpecError("--plot needs matplotlib; pip install -e .[bench,export]") from None

    path = Path(path)
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    cats = list(dict.fromkeys(r["category"] for r in rows))
    by_key = {(r["mode"], r["category"]): r for r in rows}
    width = 0.8 / max(len(modes), 1)
    size = (max(6.0, 0.6 * len(cats) * max(len(modes), 2)), 7.5)
    fig, axes = plt.subplots(2, 1, figsize=size, sharex=True, layout="constrained")
    for ax, key, label in ((axes[0], "speedup", "speedup over plain (x)"), (axes[1], "tau", "tau (tokens / forward)")):
        for i, mode in enumerate(modes):
            xs, ys = [], []
            for j, cat in enumerate(cats):
                value = by_key.get((mode, cat), {}).get(key)
                if value is not None and math.isfinite(value) and value > 0:
                    xs.append(j + (i - (len(modes) - 1) / 2) * width)
                    ys.append(value)
            ax.bar(xs, ys, width=width, label=mode)
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(range(len(cats)), cats, rotation=30, ha="right")
    if title:
        fig.suptitle(textwrap.fill(title, 90), fontsize="medium")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(modes), 6))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
