"""Hypervisor steal: read from /proc/stat, and a generation that lost too much is measured again."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_spec.bench import machine
from edge_spec.bench.machine import cpu_times, least_stolen, parse_cpu_times, steal_share
from edge_spec.bench.modes import RunRecord
from edge_spec.bench.runner import BenchConfig
from edge_spec.errors import EdgeSpecError

STAT = """cpu  100 5 50 800 10 0 5 30 7 0
cpu0 50 2 25 400 5 0 3 15 0 0
intr 12345
"""


def test_parse_cpu_times() -> None:
    # user nice system idle iowait irq softirq steal = 1000 ticks, 30 stolen; guest is inside user
    assert parse_cpu_times(STAT) == (30, 1000)
    assert parse_cpu_times("cpu  1 2 3 4\n") == (0, 10)  # an old kernel without a steal field
    assert parse_cpu_times("intr 1\n") is None


def test_this_machine() -> None:
    now = cpu_times()
    if not Path("/proc/stat").is_file():
        assert now is None
        return
    steal, total = now
    assert 0 <= steal <= total and total > 0


def test_steal_share() -> None:
    assert steal_share((30, 1000), (80, 1200)) == pytest.approx(0.25)
    assert steal_share((30, 1000), (30, 1000)) == 0.0  # no time passed
    assert steal_share(None, (80, 1200)) == 0.0 and steal_share((30, 1000), None) == 0.0


class ScriptedMode:
    """A mode whose runs take no time; the test decides how much CPU each one lost."""

    name = "scripted"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, ids: list[int], max_new_tokens: int, ignore_eos: bool) -> RunRecord:
        self.runs += 1
        return RunRecord(
            tokens=[self.runs], wall_s=1.0, ttft_s=0.1, tpot_s=0.01, tokens_per_s=1.0, decode_tokens_per_s=1.0, tau=1.0
        )


def _steal_script(monkeypatch: pytest.MonkeyPatch, shares: list[float]) -> None:
    """cpu_times() readings such that run i loses shares[i] of 1000 ticks."""
    readings, steal, total = [], 0, 0
    for share in shares:
        readings.append((steal, total))
        steal, total = steal + round(share * 1000), total + 1000
        readings.append((steal, total))
    monkeypatch.setattr(machine, "cpu_times", lambda: readings.pop(0))
    monkeypatch.setattr(machine, "STEAL_PAUSE_S", 0.0)


def _config(tmp_path: Path, max_steal: float) -> BenchConfig:
    return BenchConfig(bundle=tmp_path, prompts_file=tmp_path / "p.jsonl", max_steal=max_steal)


@pytest.mark.parametrize(
    ("shares", "max_steal", "runs", "kept", "reruns"),
    [
        ([0.0], 0.05, 1, 1, 0),  # a quiet machine: one run
        ([0.5, 0.3, 0.02], 0.05, 3, 3, 2),  # a burst passes: the first quiet run is kept
        ([0.5, 0.2, 0.4, 0.3], 0.05, 4, 2, 3),  # it does not: the least stolen of four
        ([0.5], 1.0, 1, 1, 0),  # --max-steal 1: never again
    ],
)
def test_stolen_runs_are_measured_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shares,
    max_steal,
    runs,
    kept,
    reruns,  # noqa: ANN001
) -> None:
    _steal_script(monkeypatch, shares)
    mode, config = ScriptedMode(), _config(tmp_path, max_steal)
    record, steal, count = least_stolen(lambda: mode.run([1, 2, 3], 8, False), config.max_steal, mode.name)
    assert mode.runs == runs and count == reruns
    assert record.tokens == [kept] and steal == pytest.approx(shares[kept - 1])


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_max_steal_must_be_a_share(tmp_path: Path, bad: float) -> None:
    with pytest.raises(EdgeSpecError, match="--max-steal"):
        _config(tmp_path, bad)
