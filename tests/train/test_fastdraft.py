"""train_fastdraft end to end on a tiny random target: outputs, report, exact resume, held-out files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from edge_spec.drafters.draft_vocab import VOCAB_FILE, DraftVocabulary
from edge_spec.errors import EdgeSpecError
from edge_spec.train import ProgressCallbacks, train_fastdraft
from edge_spec.train.checkpoint import load_state

from .tiny_fastdraft import heldout_text, small_config


def test_output_dir_is_a_model_with_the_targets_tokenizer(full_run, tiny_target: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    assert full_run.finished and full_run.stage == "done"
    out = full_run.output
    for name in (
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ):
        assert (out / name).is_file(), name
    assert (out / "chat_template.jinja").read_text() == (tiny_target / "chat_template.jinja").read_text()
    model = AutoModelForCausalLM.from_pretrained(out)
    target = AutoConfig.from_pretrained(tiny_target)
    assert model.config.model_type == target.model_type
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (1, 32)
    assert model.config.vocab_size == 512 and model.get_input_embeddings().weight.shape[0] == 512
    vocab = DraftVocabulary.load(out / VOCAB_FILE, 512, target.vocab_size)
    special = [target.bos_token_id, target.eos_token_id, target.pad_token_id, *range(17)]  # 17 added tokens
    assert vocab.covers(special).all() and vocab.other == 511
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert getattr(model.config, name) == vocab.to_draft([getattr(target, name)])[0], name
    ours, theirs = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(tiny_target)
    assert ours.get_vocab() == theirs.get_vocab()
    assert (ours.eos_token_id, ours.bos_token_id) == (theirs.eos_token_id, theirs.bos_token_id)


def test_report_and_recipe(full_run) -> None:
    report = json.loads((full_run.output / "fastdraft_report.json").read_text())
    assert report == json.loads(json.dumps(full_run.report))
    for which in ("before", "after"):
        figures = report[which]
        assert figures["samples"] > 0 and figures["positions"] > 0
        assert 0.0 <= figures["agreement"] <= 1.0
        assert set(figures["tau"]) == {"k4", "k8"}
        assert 1.0 <= figures["tau"]["k4"] <= 5.0 and 1.0 <= figures["tau"]["k8"] <= 9.0
        assert set(figures["by_kind"]) == {"code", "chat"}
    assert report["cost"]["ratio"] > 0
    recipe = json.loads((full_run.output / "recipe.json").read_text())
    assert recipe["options"]["hidden"] == 32 and recipe["options"]["seed"] == 0
    assert recipe["machine"]["cpu"] and recipe["machine"]["torch"]
    assert recipe["steps"]["pretrain"] == 8 and recipe["steps"]["align"] > 0
    assert {"scan", "pretrain", "generate", "align"} <= set(recipe["stage_seconds"])
    assert recipe["pretrain_tokens_per_s"] > 0
    assert recipe["corpus"]["skipped"]["duplicate"] == 1 and recipe["corpus"]["skipped"]["binary"] == 1
    head = recipe["head_vocab"]
    assert head == report["head_vocab"] and head["size"] == 512 and 0.5 < head["coverage"] <= 1.0
    assert recipe["draft"]["vocab"] == 512 and recipe["options"]["head_vocab"] == 512


def test_resume_continues_where_it_stopped_and_matches_an_uninterrupted_run(
    full_run, tiny_target: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "draft"
    first = train_fastdraft(small_config(tiny_target, tiny_corpus, out, max_minutes=0))
    assert (first.finished, first.stop_reason, first.stage, first.step) == (False, "max-minutes", "pretrain", 0)

    with pytest.raises(EdgeSpecError, match="--resume"):
        train_fastdraft(small_config(tiny_target, tiny_corpus, out))

    second = train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, stop_after_steps=3))
    assert (second.finished, second.stop_reason, second.stage, second.step) == (False, "max-steps", "pretrain", 3)
    state = load_state(out)
    assert (state["stage"], state["step"], state["data_position"]["pretrain_draws"]) == ("pretrain", 3, 6)

    third = train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, stop_after_steps=7))
    assert (third.stage, third.step) == ("align", 2)  # 5 pre-training steps left, then 2 alignment steps

    with pytest.raises(EdgeSpecError, match="--seed"):
        train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, seed=1))
    with pytest.raises(EdgeSpecError, match="--head-vocab"):
        train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True, head_vocab=0))

    last = train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True))
    assert last.finished
    ours, reference = load_file(str(out / "model.safetensors")), load_file(str(full_run.output / "model.safetensors"))
    assert ours.keys() == reference.keys()
    for name in ours:
        assert bool((ours[name] == reference[name]).all()), name
    assert last.report["before"] == full_run.report["before"]
    assert last.report["after"] == full_run.report["after"]


class _Started(ProgressCallbacks):
    """Records (total, done) of every stage start."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[int | None, int]] = {}

    def stage_started(self, stage: str, total: int | None, done: int = 0, description: str = "") -> None:
        self.started[stage] = (total, done)


def test_full_vocabulary_run_on_copied_data_reuses_the_target_samples(
    full_run, tiny_target: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    from transformers import AutoConfig

    out = tmp_path / "draft"
    shutil.copytree(full_run.output / "fastdraft_data", out / "fastdraft_data")
    with pytest.raises(EdgeSpecError, match="--seed 0, not 1") as exc:  # other data options: refused, data kept
        train_fastdraft(small_config(tiny_target, tiny_corpus, out, seed=1))
    assert "\n" not in str(exc.value) and (out / "fastdraft_data" / "align.jsonl").is_file()

    progress = _Started()
    result = train_fastdraft(small_config(tiny_target, tiny_corpus, out, head_vocab=0), progress)
    assert result.finished
    total, done = progress.started["generate"]
    assert total and done == total  # nothing generated again
    assert "scan" not in progress.started  # nor scanned
    for name in ("eval.jsonl", "align.jsonl"):
        assert (out / "fastdraft_data" / name).read_bytes() == (full_run.output / "fastdraft_data" / name).read_bytes()

    # --head-vocab 0: the full-vocabulary layout, no map
    config, target = json.loads((out / "config.json").read_text()), AutoConfig.from_pretrained(tiny_target)
    assert config["vocab_size"] == target.vocab_size and not (out / VOCAB_FILE).exists()
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert config[name] == getattr(target, name), name
    assert result.recipe["head_vocab"]["size"] == 0
    assert 0.0 <= result.report["after"]["agreement"] <= 1.0


def test_heldout_files_never_reach_training(full_run, tiny_corpus: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from edge_spec.train.corpus import TokenStore, discover_files, eval_reserve, scan_corpus

    data = full_run.output / "fastdraft_data"
    corpus = json.loads((data / "corpus.json").read_text())
    assert corpus["heldout_files"] == 1 and corpus["skipped"]["held out (evaluation only)"] == 1
    tokenizer = Tokenizer.from_file(str(full_run.output / "tokenizer.json"))
    needle = np.array(tokenizer.encode(heldout_text(), add_special_tokens=False).ids)

    def contains(store: TokenStore) -> bool:
        hay = np.asarray(store.tokens, dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(hay, len(needle))
        return bool((windows == needle).all(axis=1).any())

    dtype = np.dtype(corpus["dtype"])
    assert not contains(TokenStore(data, "train", dtype))
    assert contains(TokenStore(data, "eval", dtype))  # evaluation only
    for line in (data / "align.jsonl").read_text().splitlines():  # the alignment prompts come from training files
        ids = np.array(json.loads(line)["ids"])
        if len(ids) >= len(needle):
            windows = np.lib.stride_tricks.sliding_window_view(ids, len(needle))
            assert not (windows == needle).all(axis=1).any()

    # without the rule the file is training data (unless the 1-in-50 evaluation reserve picked it)
    files = discover_files([tiny_corpus])
    args = dict(vocab_size=49152, separator=2, seed=0)
    stats = scan_corpus(files, full_run.output / "tokenizer.json", tmp_path, skip_heldout=False, **args)
    assert stats.heldout_files == 1 and "held out (evaluation only)" not in stats.skipped
    reserved = files.index(tiny_corpus / "heldout.py") in eval_reserve(len(files), 0)
    assert contains(TokenStore(tmp_path, "train", dtype)) is not reserved


CTRL_C_SCRIPT = """
import json, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from train.tiny_fastdraft import small_config
from edge_spec.train import ProgressCallbacks, TrainingInterrupted, train_fastdraft
from edge_spec.train.checkpoint import load_state

class CtrlC(ProgressCallbacks):
    def __init__(self, stage, at):
        self.stage, self.at = stage, at
    def advanced(self, stage, done, info=None):
        if stage == self.stage and done == self.at:
            signal.raise_signal(signal.SIGINT)

target, corpus, out = Path({target!r}), Path({corpus!r}), Path({out!r})
# a user's Ctrl-C is never ignored; a child of a pytest run can inherit SIGINT ignored (SIG_IGN)
signal.signal(signal.SIGINT, signal.default_int_handler)
before = signal.getsignal(signal.SIGINT)
states = []
for stage, at, resume in (("pretrain", 2, False), ("generate", 4, True)):
    try:
        train_fastdraft(small_config(target, corpus, out, resume=resume), CtrlC(stage, at))
        sys.exit("not interrupted at " + stage)
    except TrainingInterrupted:
        pass
    assert signal.getsignal(signal.SIGINT) is before
    state = load_state(out)
    states.append([state["stage"], state["step"]] if stage == "pretrain" else state["stage"])
print(json.dumps(states))
"""


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same(
    full_run, tiny_target: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    # The two Ctrl-C runs happen in a fresh interpreter, as they would for a user: in this
    # process other tests have loaded OpenVINO, whose presence made a raised SIGINT crash it.
    import subprocess
    import sys

    out = tmp_path / "draft"
    script = CTRL_C_SCRIPT.format(
        tests=str(Path(__file__).parents[1]), target=str(tiny_target), corpus=str(tiny_corpus), out=str(out)
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    first, second = json.loads(child.stdout.strip().splitlines()[-1])
    assert first == ["pretrain", 2]  # during a training step: the step finishes, then a checkpoint
    progress = json.loads((out / "fastdraft_data" / "generation.json").read_text())
    assert second == "generate" and progress["done"] == 1  # while the target writes: finished jobs kept

    assert train_fastdraft(small_config(tiny_target, tiny_corpus, out, resume=True)).finished
    for name in ("eval.jsonl", "align.jsonl"):
        assert (out / "fastdraft_data" / name).read_bytes() == (full_run.output / "fastdraft_data" / name).read_bytes()
    ours, reference = load_file(str(out / "model.safetensors")), load_file(str(full_run.output / "model.safetensors"))
    assert all(bool((ours[name] == reference[name]).all()) for name in reference)
