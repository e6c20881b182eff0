"""Token-level distillation: the target's labels on disk, the label/distill stages, stopping and resuming."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edge_spec.errors import EdgeSpecError
from edge_spec.train import ProgressCallbacks, teacher_labels, train_fastdraft
from edge_spec.train import fastdraft as fastdraft_module
from edge_spec.train.checkpoint import load_state
from edge_spec.train.corpus import TokenStore
from edge_spec.train.distill import DistillBatches, distill_sequences, distill_steps
from edge_spec.train.pretrain import PackedSequences
from edge_spec.train.run_control import RunControl
from edge_spec.train.teacher_labels import TeacherLabels, label_sequences, labelled_count

from .tiny_fastdraft import small_config

SEQUENCES = 5  # two label batches of the small config's generation batch (4)
DISTILL = dict(distill_tokens=SEQUENCES * 32 + 7, distill_epochs=2.0)  # seq_len 32: 5 sequences
DTYPE = np.dtype("<u2")  # the tiny target's 49152 ids


class _Recorder(ProgressCallbacks):
    """Records (total, done) of every stage start."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[int | None, int]] = {}

    def stage_started(self, stage: str, total: int | None, done: int = 0, description: str = "") -> None:
        self.started[stage] = (total, done)


def _with_copied_data(source: Path, out: Path) -> Path:
    """A new run dir holding a finished run's data (same data options: no scan, no generation)."""
    shutil.copytree(source / "fastdraft_data", out / "fastdraft_data", ignore=shutil.ignore_patterns("teacher.*"))
    return out


@pytest.fixture(scope="module")
def distill_run(full_run, tiny_target: Path, tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An uninterrupted run with distillation, labelled in f32 (the reference of the resume test)."""
    out = _with_copied_data(full_run.output, tmp_path_factory.mktemp("distill") / "draft")
    progress = _Recorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(teacher_labels, "_bf16_is_fast", lambda: False)
        result = train_fastdraft(small_config(tiny_target, tiny_corpus, out, **DISTILL), progress)
    return result, progress


def _target(tiny_target: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_target, dtype=torch.float32).eval()


def test_distill_run_labels_with_the_targets_argmax_and_reports(distill_run, tiny_target: Path) -> None:
    result, progress = distill_run
    assert result.finished
    assert {"label", "distill", "align"} <= set(progress.started)
    assert progress.started["label"] == (SEQUENCES, 0) and progress.started["distill"] == (SEQUENCES, 0)
    data = result.output / "fastdraft_data"
    assert json.loads((data / "teacher.json").read_text()) == {"sequences": SEQUENCES, "seq_len": 32, "done": SEQUENCES}
    for suffix in ("inputs", "labels"):
        assert (data / f"teacher.{suffix}").stat().st_size == SEQUENCES * 32 * DTYPE.itemsize

    labels = TeacherLabels(data, DTYPE)
    inputs, targets = labels.batch(np.arange(SEQUENCES))
    packed = PackedSequences(TokenStore(data, "train", DTYPE), 32, 0)
    assert torch.equal(inputs, packed.batch(0, SEQUENCES)[0])  # the pre-training order's first draws
    with torch.no_grad():
        top = _target(tiny_target)(input_ids=inputs).logits.topk(2, dim=-1)
    clear = (top.values[..., 0] - top.values[..., 1]) > 1e-4  # no near-tie a float rounding could flip
    assert clear.float().mean() > 0.9
    assert torch.equal(targets[clear], top.indices[..., 0][clear])
    assert torch.equal(targets[0][clear[0]], top.indices[0, :, 0][clear[0]])  # a row, against the model

    report = json.loads((result.output / "fastdraft_report.json").read_text())
    assert set(report["after_distill"]) == set(report["before"]) == set(report["after"])
    assert 0.0 <= report["after_distill"]["agreement"] <= 1.0
    distill = report["distill"]
    assert (distill["tokens"], distill["epochs"], distill["sequences"], distill["steps"]) == (167, 2.0, 5, 5)
    assert distill["label_seconds"] > 0 and distill["labelled_here_tokens"] == SEQUENCES * 32
    assert distill["tokens_per_s"] > 0 and distill["loss"] > 0
    recipe = json.loads((result.output / "recipe.json").read_text())
    assert recipe["steps"]["distill"] == 5 and recipe["distill"] == distill
    assert recipe["options"]["distill_tokens"] == 167 and recipe["options"]["distill_epochs"] == 2.0
    assert {"label", "distill", "evaluate-distill"} <= set(recipe["stage_seconds"])
    assert recipe["training"]["distill"]["tokens"] == 5 * 2 * 32


def test_no_distillation_is_the_run_it_always_was(full_run, tiny_target: Path, tiny_corpus: Path, tmp_path) -> None:
    data = full_run.output / "fastdraft_data"
    assert not list(data.glob("teacher.*"))
    assert "after_distill" not in full_run.report and "distill" not in full_run.report
    assert full_run.recipe["distill"] is None and full_run.recipe["steps"]["distill"] == 0

    # a checkpoint from before the options resumes as a run without the stage
    out = tmp_path / "draft"
    shutil.copytree(full_run.output, out)
    state_file = out / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    for name in ("distill_tokens", "distill_epochs"):
        del state["options"][name]
    state_file.write_text(json.dumps(state))
    assert train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True)).finished
    with pytest.raises(EdgeSpecError, match="--distill-tokens 0, not 32"):
        train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, distill_tokens=32))


def test_label_sequences_resumes_without_duplicating_rows(full_run, tiny_target: Path, tmp_path: Path) -> None:
    target = _target(tiny_target)
    packed = PackedSequences(TokenStore(full_run.output / "fastdraft_data", "train", DTYPE), 32, 0)
    ours, reference = tmp_path / "ours", tmp_path / "reference"
    ours.mkdir(), reference.mkdir()

    calls: list[int] = []

    def stop(done: int) -> bool:  # the run's time limit or Ctrl-C, after the first batch
        calls.append(done)
        return False

    assert label_sequences(target, packed, SEQUENCES, ours, DTYPE, 2, on_batch=stop, bf16=False) == 2
    assert calls == [2] and labelled_count(ours, 32) == 2 and labelled_count(ours, 16) == 0
    with open(ours / "teacher.labels", "ab") as torn:  # a batch written, its count not: redone, not duplicated
        torn.write(np.zeros(32, dtype=DTYPE).tobytes())

    assert label_sequences(target, packed, SEQUENCES, ours, DTYPE, 2, bf16=False) == SEQUENCES
    assert label_sequences(target, packed, SEQUENCES, reference, DTYPE, 2, bf16=False) == SEQUENCES
    assert label_sequences(target, packed, 3, ours, DTYPE, 2, bf16=False) == SEQUENCES  # all on disk: no work
    for name in ("teacher.inputs", "teacher.labels", "teacher.json"):
        assert (ours / name).read_bytes() == (reference / name).read_bytes(), name
    assert (ours / "teacher.labels").stat().st_size == SEQUENCES * 32 * DTYPE.itemsize


def test_distill_batches_follow_a_seeded_order(full_run, tiny_target: Path, tmp_path: Path) -> None:
    assert (distill_sequences(0, 32), distill_sequences(5, 32), distill_sequences(100, 32)) == (0, 1, 3)
    assert distill_steps(5, 2, 2.0) == 5 and distill_steps(0, 2, 2.0) == 0
    packed = PackedSequences(TokenStore(full_run.output / "fastdraft_data", "train", DTYPE), 32, 0)
    label_sequences(_target(tiny_target), packed, 4, tmp_path, DTYPE, 4, bf16=False)
    labels = TeacherLabels(tmp_path, DTYPE)
    first, again = DistillBatches(labels, 3, 2, seed=0), DistillBatches(labels, 3, 2, seed=0)
    seen = [first.batch(s)[0] for s in range(3)]  # two epochs over the first 3 of 4 sequences
    assert all(torch.equal(again.batch(s)[0], seen[s]) for s in (2, 0, 1))  # a pure function of the step
    seen = torch.cat(seen)
    rows = {tuple(r.tolist()) for r in seen}
    assert rows == {tuple(r.tolist()) for r in labels.batch(np.arange(3))[0]}


def test_stopped_while_labelling_resumes_where_it_stopped(
    distill_run, full_run, tiny_target: Path, tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, _ = distill_run
    controls: list[RunControl] = []

    class Recorded(RunControl):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            controls.append(self)

    class TimeUpAfterOneBatch(ProgressCallbacks):
        def advanced(self, stage: str, done: int, info: dict[str, Any] | None = None) -> None:
            if stage == "label" and done == 4:
                controls[-1].deadline = controls[-1].clock()  # --max-minutes runs out

    monkeypatch.setattr(fastdraft_module, "RunControl", Recorded)
    monkeypatch.setattr(teacher_labels, "_bf16_is_fast", lambda: False)
    out = _with_copied_data(full_run.output, tmp_path / "draft")
    first = train_fastdraft(
        small_config(tiny_target, tiny_corpus, out, max_minutes=60, **DISTILL), TimeUpAfterOneBatch()
    )
    assert (first.finished, first.stop_reason, first.stage, first.step) == (False, "max-minutes", "label", 4)
    assert load_state(out)["stage"] == "label" and labelled_count(out / "fastdraft_data", 32) == 4

    with pytest.raises(EdgeSpecError, match="--distill-epochs"):
        train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, **{**DISTILL, "distill_epochs": 1.0}))
    progress = _Recorder()
    last = train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, **DISTILL), progress)
    assert last.finished and progress.started["label"] == (SEQUENCES, 4)
    for name in ("teacher.inputs", "teacher.labels", "teacher.json"):
        ours, theirs = out / "fastdraft_data" / name, reference.output / "fastdraft_data" / name
        assert ours.read_bytes() == theirs.read_bytes(), name
    ours, theirs = load_file(str(out / "model.safetensors")), load_file(str(reference.output / "model.safetensors"))
    assert all(bool((ours[name] == theirs[name]).all()) for name in theirs)
    assert last.report["after_distill"] == reference.report["after_distill"]
