"""FastDraft (arXiv 2411.11055) on one machine: pre-train a small draft, then align it to the target.

Stages, each resumable from DRAFT_DIR/checkpoint (see checkpoint.py):
1. scan: the corpus is tokenized with the target's tokenizer into token stores (corpus.py);
   benchmark held-out files and a small reserve go to the evaluation pool only.
   With --head-vocab (automatic for large vocabularies) the draft's own vocabulary is then
   chosen from the training tokens' frequencies (head_vocab.py).
2. pretrain: a draft of the target's family (draft_config.py; embedding initialised from the
   target's by PCA) learns next-token prediction on packed corpus sequences (pretrain.py).
3. generate: the target writes held-out samples and the alignment set (target_generation.py,
   Magpie chat data for chat targets, magpie.py), cached as jsonl.
4. evaluate: acceptance of the pre-trained draft on the held-out samples (evaluate.py).
   With --distill-tokens N: label (the target's greedy next token at every position of N tokens
   of corpus sequences, teacher_labels.py), distill (the draft learns those labels, distill.py)
   and evaluate again.
5. align: sequence-level distillation on the target's text, some pre-training mixed in (align.py).
6. evaluate again, measure the draft's cost per token against the target's, and save: the draft
   as a Hugging Face model dir with the target's tokenizer, recipe.json, fastdraft_report.json.

Everything runs in f32 on CPU with torch (bf16 autocast is not reliable on every CPU).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_spec.drafters.draft_vocab import DraftVocabulary
from edge_spec.errors import EdgeSpecError
from edge_spec.train import checkpoint as ckpt
from edge_spec.train.align import AlignBatches, align_steps
from edge_spec.train.corpus import CorpusStats, TokenStore, default_corpus, discover_files, scan_corpus
from edge_spec.train.distill import DistillBatches, distill_sequences, distill_steps
from edge_spec.train.draft_config import (
    check_draft_size,
    draft_config_for,
    draft_shape,
    embedding_rows,
    pca_embedding,
    with_draft_vocab,
)
from edge_spec.train.draft_dir import (
    DATA_DIR,
    RECIPE,
    REPORT,
    claim_data_dir,
    copy_tokenizer,
    first_difference,
    machine_info,
    prepare_draft_dir,
    save_draft_model,
    write_json,
)
from edge_spec.train.evaluate import CHAIN_LENGTHS, evaluate_acceptance, measure_cost_ratio
from edge_spec.train.head_vocab import (
    DraftIds,
    build_draft_vocab,
    load_draft_vocab,
    resolve_head_vocab,
    special_token_ids,
)
from edge_spec.train.magpie import chat_prefix, stop_token_ids
from edge_spec.train.pretrain import PackedSequences, pretrain_steps
from edge_spec.train.progress import ProgressCallbacks
from edge_spec.train.run_control import RunControl, TrainingInterrupted
from edge_spec.train.target_generation import (
    ALIGN_FILE,
    EVAL_FILE,
    GenerationSettings,
    SampleWriter,
    TargetWriter,
    plan_jobs,
    read_samples,
)
from edge_spec.train.target_model import (
    TargetInfo,
    check_target,
    eos_and_pad_ids,
    load_target_model,
    load_tokenizer,
)
from edge_spec.train.teacher_labels import TeacherLabels, label_sequences, labelled_count
from edge_spec.train.training_loop import StageTally, make_optimizer, run_stage

log = logging.getLogger(__name__)

THREADS_ENV = "EDGE_SPEC_THREADS"
# options that only steer this session; everything else must match the checkpoint on resume
SESSION_OPTIONS = (
    "output",
    "resume",
    "max_minutes",
    "threads",
    "checkpoint_minutes",
    "stop_after_steps",
    "measure_cost",
)
# options the data dir's contents (corpus scan, target-written samples) depend on
DATA_OPTIONS = (
    "target",
    "corpus",
    "skip_heldout",
    "seed",
    "align_samples",
    "eval_code_samples",
    "eval_chat_samples",
    "generation",
)

# options newer than some checkpoints, with the value that means what older runs did
OPTIONS_ADDED = {"head_vocab": 0, "distill_tokens": 0, "distill_epochs": 2.0}


@dataclass
class FastDraftConfig:
    """Options of a FastDraft run (the CLI's flags)."""

    target: Path
    output: Path
    corpus: list[Path] = field(default_factory=list)  # files or folders; empty: the stdlib's .py files
    layers: int | None = None  # None: sized from the target (draft_config.default_draft_size)
    hidden: int | None = None
    pretrain_tokens: int = 2_000_000
    align_samples: int = 1024
    align_epochs: float = 2.0
    seq_len: int = 256
    batch: int = 8
    lr: float = 1e-3
    align_lr: float | None = None  # None: lr / 2
    seed: int = 0
    resume: bool = False
    max_minutes: float | None = None  # stop cleanly, with a checkpoint, after this much wall time
    skip_heldout: bool = True
    threads: int | None = None  # None: $EDGE_SPEC_THREADS, else torch's default
    pretrain_mix_every: int = 4  # every n-th alignment step is a pre-training batch (0: never)
    eval_code_samples: int = 24
    eval_chat_samples: int = 8
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    pca_init: bool = True
    checkpoint_minutes: float = 5.0
    stop_after_steps: int | None = None  # stop, with a checkpoint, after this many training steps
    measure_cost: bool = True
    head_vocab: int | None = None  # draft vocabulary size; 0: the target's; None: automatic (head_vocab.py)
    distill_tokens: int = 0  # corpus tokens the target labels for token-level distillation (0: no such stage)
    distill_epochs: float = 2.0  # passes over the labelled sequences

    def check(self) -> None:
        positive = {"--seq-len": self.seq_len, "--batch": self.batch, "generation batch": self.generation.batch}
        for flag, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise EdgeSpecError(f"{flag} {value}: must be a positive whole number")
        counts = {
            "--pretrain-tokens": self.pretrain_tokens,
            "--align-samples": self.align_samples,
            "--distill-tokens": self.distill_tokens,
        }
        for flag, value in counts.items():
            if not isinstance(value, int) or value < 0:
                raise EdgeSpecError(f"{flag} {value}: must be 0 or more")
        if not self.lr > 0 or (self.align_lr is not None and not self.align_lr > 0):
            raise EdgeSpecError(f"--lr {self.lr}: must be positive")
        if self.max_minutes is not None and self.max_minutes < 0:
            raise EdgeSpecError(f"--max-minutes {self.max_minutes}: must be 0 or more")
        if self.threads is not None and self.threads < 1:
            raise EdgeSpecError(f"--threads {self.threads}: must be 1 or more")
        for flag, epochs in {"--align-epochs": self.align_epochs, "--distill-epochs": self.distill_epochs}.items():
            if not epochs > 0 or epochs == float("inf"):
                raise EdgeSpecError(f"{flag} {epochs}: must be positive")
        low, high = self.generation.prompt_tokens
        if not 1 <= low <= high:
            raise EdgeSpecError(f"prompt token range {low}..{high}: must be 1 <= low <= high")

    def run_options(self) -> dict[str, Any]:
        """The options that define the run (kept in the checkpoint and the recipe)."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in SESSION_OPTIONS}
        options["target"] = str(Path(self.target).expanduser().resolve())
        options["corpus"] = [str(Path(c).expanduser().resolve()) for c in self.corpus]
        options["generation"] = {
            **dataclasses.asdict(self.generation),
            "prompt_tokens": list(self.generation.prompt_tokens),
        }
        return options


@dataclass
class FastDraftResult:
    """What a run did. finished is False when it stopped early (see stop_reason) with a checkpoint."""

    output: Path
    finished: bool
    stage: str
    step: int
    stop_reason: str | None = None  # "max-minutes", "max-steps"
    draft: dict[str, int] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    pretrain_tokens_per_s: float = 0.0
    cost: dict[str, Any] | None = None


def train_fastdraft(config: FastDraftConfig, progress: ProgressCallbacks | None = None) -> FastDraftResult:
    """Pre-train and align a draft for config.target into config.output (see the module docstring).

    Bad input raises EdgeSpecError (one line). A time or step budget returns a result with
    finished=False after saving a checkpoint; Ctrl-C saves one and raises TrainingInterrupted.
    Call again with resume=True to continue exactly where it stopped.
    """
    config.check()
    target = check_target(config.target)
    sources = [Path(c).expanduser() for c in config.corpus]
    for source in sources:
        if not source.exists():
            raise EdgeSpecError(f"{source}: no such file or folder (a corpus is text files or folders of them)")
    layers, hidden = config.layers, config.hidden
    draft_dir = Path(config.output).expanduser().absolute()
    state: dict[str, Any] | None = None
    if config.resume and ckpt.has_checkpoint(draft_dir):
        state = ckpt.load_state(draft_dir)
        for name, before in OPTIONS_ADDED.items():  # a checkpoint from before the option: what the run did
            state["options"].setdefault(name, before)
        layers = layers if layers is not None else state["draft"]["layers"]
        hidden = hidden if hidden is not None else state["draft"]["hidden"]
    layers, hidden = check_draft_size(target.config, layers, hidden)
    head_vocab = config.head_vocab
    if head_vocab is None and state is not None:  # automatic: what the run started with
        head_vocab = state["options"]["head_vocab"]
    head_vocab = resolve_head_vocab(head_vocab, target.config.vocab_size)
    options = config.run_options()
    options["layers"], options["hidden"], options["head_vocab"] = layers, hidden, head_vocab
    if state is not None:
        _check_same_options(draft_dir, state["options"], options)
    created = not draft_dir.exists()
    had_data = (draft_dir / DATA_DIR).exists()
    resuming = prepare_draft_dir(draft_dir, config.resume)
    if not resuming:
        claim_data_dir(draft_dir / DATA_DIR, {name: options[name] for name in DATA_OPTIONS})
    previous_threads = torch.get_num_threads()
    threads = requested_threads(config.threads) or previous_threads
    torch.set_num_threads(threads)
    run = _Run(config, target, draft_dir, options, layers, hidden, sources, progress or ProgressCallbacks())
    try:
        return run.execute(state if resuming else None)
    except EdgeSpecError:
        if not resuming and run.state.get("stage") == "scan":  # bad corpus: leave nothing behind but copied data
            leftovers = [draft_dir] if created else [draft_dir / ckpt.CHECKPOINT]
            leftovers += [] if created or had_data else [draft_dir / DATA_DIR]
            for leftover in leftovers:
                shutil.rmtree(leftover, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(previous_threads)


def requested_threads(option: int | None) -> int:
    """torch threads asked for by --threads, else $EDGE_SPEC_THREADS; 0: torch's own default."""
    return option or int(os.environ.get(THREADS_ENV, "0") or 0)


def _check_same_options(draft_dir: Path, saved: dict[str, Any], options: dict[str, Any]) -> None:
    differs = first_difference(saved, options)
    if differs:
        raise EdgeSpecError(
            f"{draft_dir}: the checkpoint was made with {differs}; "
            "resume with the same options (or start a new directory)"
        )


class _Run:
    """One session of a run: stages from wherever the checkpoint says, until done or stopped."""

    ORDER = (
        "scan",
        "pretrain",
        "generate",
        "evaluate-before",
        "label",
        "distill",
        "evaluate-distill",
        "align",
        "evaluate-after",
        "save",
        "done",
    )
    DISTILL_STAGES = ("label", "distill", "evaluate-distill")  # only with --distill-tokens
    EVALUATIONS = {"evaluate-before": "before", "evaluate-distill": "after_distill", "evaluate-after": "after"}

    def __init__(
        self,
        config: FastDraftConfig,
        target: TargetInfo,
        draft_dir: Path,
        options: dict[str, Any],
        layers: int,
        hidden: int,
        sources: list[Path],
        progress: ProgressCallbacks,
    ):
        self.config = config
        self.target = target
        self.dir = draft_dir
        self.data = draft_dir / DATA_DIR
        self.options = options
        self.progress = progress
        self.sources = sources
        self.head_vocab = options["head_vocab"]
        self.draft_config = draft_config_for(target.config, layers, hidden, self.head_vocab or None)
        self.control = RunControl(config.max_minutes, config.checkpoint_minutes, config.stop_after_steps)
        self.model: Any = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._target_model: Any = None
        self._tokenizer: Any = None
        self.mark = time.monotonic()
        self.state: dict[str, Any] = {}
        self.ids = eos_and_pad_ids(target)
        self.distill_sequences = distill_sequences(config.distill_tokens, config.seq_len)
        self._vocab: DraftVocabulary | None = None
        self._draft_ids: DraftIds | None = None

    # -- state and checkpoints ---------------------------------------------------------------------

    @property
    def stage(self) -> str:
        return self.state["stage"]

    def _account(self) -> None:
        """Add the wall time since the last mark to the current stage's total."""
        now = time.monotonic()
        seconds = self.state.setdefault("stage_seconds", {})
        seconds[self.stage] = seconds.get(self.stage, 0.0) + (now - self.mark)
        self.mark = now

    def _save(self, step: int | None = None, with_optimizer: bool = True, with_model: bool = True) -> None:
        if step is not None:
            self.state["step"] = step
        self._account()
        model = self.model if with_model else None
        optimizer = self.optimizer if with_optimizer and with_model else None
        ckpt.save_checkpoint(self.dir, self.state, model, optimizer, carry_model=with_model)
        self.control.checkpointed()

    def _enter(self, stage: str) -> None:
        self._account()
        self.state["stage"] = stage
        self.state["step"] = 0

    def _next_stage(self) -> str:
        """The stage after the current one (the distillation stages only when they are on)."""
        later = self.ORDER[self.ORDER.index(self.stage) + 1 :]
        return next(s for s in later if self.distill_sequences or s not in self.DISTILL_STAGES)

    def _stopped(self, reason: str) -> FastDraftResult:
        if reason == "interrupted":
            raise TrainingInterrupted(self.dir / ckpt.CHECKPOINT, self.stage, self.state["step"])
        log.info("stopped (%s) in %s at step %d; resume to continue", reason, self.stage, self.state["step"])
        return self._result(finished=False, reason=reason)

    def _result(self, finished: bool, reason: str | None = None) -> FastDraftResult:
        tally = self.state.get("tallies", {}).get("pretrain", {})
        seconds = tally.get("seconds", 0.0)
        return FastDraftResult(
            output=self.dir,
            finished=finished,
            stage=self.stage,
            step=self.state.get("step", 0),
            stop_reason=reason,
            draft=self.state.get("draft", {}),
            report=self.state.get("report"),
            recipe=self.state.get("recipe"),
            pretrain_tokens_per_s=tally.get("tokens", 0) / seconds if seconds else 0.0,
            cost=self.state.get("cost"),
        )

    # -- the run -----------------------------------------------------------------------------------

    def execute(self, state: dict[str, Any] | None) -> FastDraftResult:
        if state is None:
            self.state = {
                "stage": "scan",
                "step": 0,
                "seed": self.config.seed,
                "options": self.options,
                "draft": draft_shape(self.draft_config),
                "target": {"path": str(self.target.path), **draft_shape(self.target.config)},
                "tallies": {},
                "stage_seconds": {},
                "report": {},
            }
            self._save()  # from here on the directory is a resumable run
        else:
            self.state = state
            log.info("resuming at stage %s, step %d", self.stage, self.state["step"])
        if self.stage == "done":
            return self._result(finished=True)
        try:
            for stage, method in (
                ("scan", self._scan),
                ("pretrain", self._pretrain),
                ("generate", self._generate),
                ("evaluate-before", self._evaluate),
                ("label", self._label),
                ("distill", self._distill),
                ("evaluate-distill", self._evaluate),
                ("align", self._align),
                ("evaluate-after", self._evaluate),
                ("save", self._finish),
            ):
                if self.ORDER.index(self.stage) > self.ORDER.index(stage):
                    continue
                if stage in self.DISTILL_STAGES and not self.distill_sequences:
                    continue  # only a run with --distill-tokens ever enters them
                reason = method()
                if reason:
                    return self._stopped(reason)
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt:
            raise TrainingInterrupted(self.dir / ckpt.CHECKPOINT, self.stage, self.state.get("step", 0)) from None
        return self._result(finished=True)

    # -- 1. corpus ---------------------------------------------------------------------------------

    def _scan(self) -> str | None:
        stats = CorpusStats.load(self.data)
        if stats is None:
            files = discover_files(self.sources) if self.sources else default_corpus()
            labels = [str(s) for s in self.sources] or ["python stdlib (.py)"]
            self.progress.stage_started("scan", len(files), 0, "reading the corpus")
            stats = scan_corpus(
                files,
                self.target.tokenizer_json,
                self.data,
                vocab_size=self.target.config.vocab_size,
                separator=self.ids["eos"][0] if self.ids["eos"] else None,
                skip_heldout=self.config.skip_heldout,
                seed=self.config.seed,
                progress=lambda done, total: self.progress.advanced("scan", done),
                labels=labels,
            )
            self.progress.stage_finished("scan", dataclasses.asdict(stats))
        self.state["corpus"] = dataclasses.asdict(stats)
        self.state["head_vocab"] = self._build_vocab()
        self._enter("pretrain")
        self._save()
        return None

    def _stores(self) -> tuple[TokenStore, TokenStore]:
        dtype = self._token_dtype()
        return TokenStore(self.data, "train", dtype), TokenStore(self.data, "eval", dtype)

    def _token_dtype(self) -> np.dtype:
        """The dtype of the run's token stores (and of its teacher labels), as the scan chose it."""
        stats = CorpusStats.load(self.data)
        if stats is None:
            raise EdgeSpecError(f"{self.data}: the corpus scan is missing; start a new run in another directory")
        return np.dtype(stats.dtype)

    def _packed(self) -> PackedSequences:
        return PackedSequences(self._stores()[0], self.config.seq_len, self.config.seed)

    # -- the draft's vocabulary --------------------------------------------------------------------

    def _build_vocab(self) -> dict[str, Any]:
        """Choose the draft's ids from the training tokens; what the recipe records about them.

        Built at every scan, even a reused one: a copied data dir may hold another size's.
        """
        vocab_size = self.target.config.vocab_size
        if not self.head_vocab:
            return {"size": 0, "coverage": 1.0}
        always = special_token_ids(self.target.tokenizer_json, self.target.config, [*self.ids["eos"], self.ids["pad"]])
        self._vocab, info = build_draft_vocab(self._stores()[0], self.head_vocab, vocab_size, always, self.data)
        return info

    @property
    def vocab(self) -> DraftVocabulary | None:
        """The draft's own vocabulary (None: the target's), as the scan saved it."""
        if self.head_vocab and self._vocab is None:
            self._vocab = load_draft_vocab(self.data, self.head_vocab, self.target.config.vocab_size)
            if self._vocab is None:  # removed since the scan: it is a pure function of the training tokens
                self.state["head_vocab"] = self._build_vocab()
        return self._vocab

    def _in_draft_ids(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch (target ids) in the draft's ids."""
        if self.vocab is None:
            return batch
        if self._draft_ids is None:
            self._draft_ids = DraftIds(self.vocab)
        return self._draft_ids.batch(batch)

    # -- 2. pre-training ---------------------------------------------------------------------------

    def _new_draft(self) -> Any:
        from transformers import AutoModelForCausalLM

        config = self.draft_config if self.vocab is None else with_draft_vocab(self.draft_config, self.vocab)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        return model

    def _draft_from_checkpoint(self) -> Any:
        model = self._new_draft()
        ckpt.load_model(self.dir, model)
        return model

    def _pretrain(self) -> str | None:
        total = pretrain_steps(self.config.pretrain_tokens, self.config.batch, self.config.seq_len)
        packed = self._packed() if total else None
        self.state["pretrain_steps"] = total
        step = self.state["step"]
        if ckpt.has_model(self.dir):
            self.model = self._draft_from_checkpoint()
        else:
            self.model = self._new_draft()
            if self.config.pca_init:
                self._init_embedding()
        self.optimizer = make_optimizer(self.model, self.config.lr)
        if step and ckpt.has_optimizer(self.dir):
            ckpt.load_optimizer(self.dir, self.model, self.optimizer)
        tally = StageTally(**self.state["tallies"].get("pretrain", {}))
        self.progress.stage_started("pretrain", total, step, f"pre-training ({total * self.config.batch} sequences)")

        def save(at: int) -> None:
            self.state["tallies"]["pretrain"] = dataclasses.asdict(tally)
            self.state["data_position"] = {"pretrain_draws": at * self.config.batch}
            self._save(at)

        step, reason = run_stage(
            "pretrain",
            self.model,
            self.optimizer,
            lambda s: self._in_draft_ids(packed.batch(s * self.config.batch, self.config.batch)),
            total,
            self.config.lr,
            step,
            tally,
            self.control,
            save,
            self.progress,
        )
        self.state["tallies"]["pretrain"] = dataclasses.asdict(tally)
        self.progress.stage_finished("pretrain", {"tokens_per_s": tally.tokens_per_s(), "loss": tally.loss})
        if reason:
            return reason
        self.state["data_position"] = {"pretrain_draws": total * self.config.batch}
        self.optimizer = None
        self._enter("generate")
        self._save()
        return None

    def _init_embedding(self) -> None:
        target = self._target()
        with torch.no_grad():
            source = embedding_rows(target.get_input_embeddings().weight, self.vocab)
            dest = self.model.get_input_embeddings().weight
            dest.copy_(pca_embedding(source[: dest.shape[0]], dest.shape[1]))

    # -- 3. the target's data ----------------------------------------------------------------------

    def _target(self) -> Any:
        if self._target_model is None:
            log.info("loading the target %s", self.target.path)
            self._target_model = load_target_model(self.target)
        return self._target_model

    def _tok(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.target)
        return self._tokenizer

    def _jobs(self, eval_store: TokenStore) -> tuple[list[Any], Any]:
        prefix = chat_prefix(self._tok())
        eval_code = self.config.eval_code_samples if eval_store.n_docs else 0
        jobs = plan_jobs(
            eval_code,
            self.config.eval_chat_samples,
            self.config.align_samples,
            prefix is not None,
            self.config.generation.batch,
        )
        return jobs, prefix

    def _generate(self) -> str | None:
        train_store, eval_store = self._stores()
        jobs, prefix = self._jobs(eval_store)
        writer = SampleWriter(self.data, jobs)
        planned = sum(j.size for j in jobs)
        done = sum(j.size for j in jobs[: writer.done])
        self.progress.stage_started("generate", planned, done, "the target writes held-out and alignment samples")
        if not writer.finished:
            tokenizer = self._tok()
            stops = stop_token_ids(tokenizer, prefix, self.ids["eos"])
            author = TargetWriter(
                self._target(),
                tokenizer,
                self.config.generation,
                self.config.seed,
                stops,
                self.ids["pad"],
                prefix,
                train_store,
                eval_store,
            )
            for job in jobs[writer.done :]:
                reason = self.control.stop_reason()
                if reason:
                    self._save(writer.done, with_optimizer=False)
                    return reason
                writer.write(job, author.run(job))
                done += job.size
                self.progress.advanced("generate", done, {"samples": sum(writer.counts.values())})
        self.state["generation"] = {
            "eval_samples": writer.counts[EVAL_FILE],
            "align_samples": writer.counts[ALIGN_FILE],
        }
        self.progress.stage_finished("generate", self.state["generation"])
        self._enter("evaluate-before")
        self._save(with_optimizer=False)
        return None

    # -- 4./6. evaluation --------------------------------------------------------------------------

    def _evaluate(self) -> str | None:
        """Acceptance of the draft as it is now, under the report key of the current stage."""
        which = self.EVALUATIONS[self.stage]
        if self.model is None:
            self.model = self._draft_from_checkpoint()
        records = read_samples(self.data / EVAL_FILE)
        if not records:
            log.warning("no held-out samples (no evaluation files and no chat template): acceptance is not measured")
        when = which.replace("_", " ")
        self.progress.stage_started("evaluate", len(records), 0, f"acceptance {when}")
        result = evaluate_acceptance(self.model, records, lambda n: self.progress.advanced("evaluate", n), self.vocab)
        self.state["report"][which] = result
        self.progress.stage_finished("evaluate", {"which": which, **result})
        log.info("acceptance %s: agreement %.3f, tau %s", when, result["agreement"], result["tau"])
        self._enter(self._next_stage())
        self._save(with_optimizer=False)
        return None

    # -- 4b. token-level distillation ---------------------------------------------------------------

    def _label(self) -> str | None:
        """The target labels the first pre-training draws; the labels on disk are the checkpoint."""
        total = self.distill_sequences
        done = min(labelled_count(self.data, self.config.seq_len), total)  # a copied data dir may hold more
        self.progress.stage_started("label", total, done, f"the target labels {total} corpus sequences")
        reason = None
        if done < total:
            reason = self.control.stop_reason()
            if not reason:
                done, reason = self._label_batches(total)
        self.progress.stage_finished("label", self.state.get("labels"))
        if reason:
            self._save(done, with_optimizer=False)
            return reason
        self._enter(self._next_stage())
        self._save(with_optimizer=False)
        return None

    def _label_batches(self, total: int) -> tuple[int, str | None]:
        """Label until TOTAL sequences are on disk or the run must stop (a Ctrl-C finishes its batch)."""
        labels = self.state.setdefault("labels", {"sequences": 0, "seconds": 0.0})
        stop: list[str] = []
        mark = {"time": time.perf_counter(), "done": labelled_count(self.data, self.config.seq_len)}

        def on_batch(done: int) -> bool:
            now = time.perf_counter()
            labels["sequences"] += done - mark["done"]
            labels["seconds"] += now - mark["time"]
            mark.update(time=now, done=done)
            rate = labels["sequences"] * self.config.seq_len / labels["seconds"] if labels["seconds"] else 0.0
            self.progress.advanced("label", done, {"labelled_tokens_per_s": rate})
            reason = self.control.stop_reason()
            if reason:
                stop.append(reason)
            return reason is None

        packed = self._packed()
        if total > packed.count:
            log.info("%d sequences to label but the corpus packs into %d: some repeat", total, packed.count)
        target = self._target()
        mark["time"] = time.perf_counter()  # loading the target is not labelling
        with self.control.deferred_interrupts():
            done = label_sequences(
                target,
                packed,
                total,
                self.data,
                self._token_dtype(),
                batch=self.config.generation.batch or 8,
                on_batch=on_batch,
            )
        return done, (stop[0] if stop and done < total else None)

    def _distill(self) -> str | None:
        """The draft learns the target's labels: same loop, optimizer rule and learning rate as alignment."""
        batch = self.config.batch
        if labelled_count(self.data, self.config.seq_len) < self.distill_sequences:
            raise EdgeSpecError(
                f"{self.data}: the target's labels (teacher.*) are missing or cut short; start a new run elsewhere"
            )
        labels = TeacherLabels(self.data, self._token_dtype())
        batches = DistillBatches(labels, self.distill_sequences, batch, self.config.seed)
        total = distill_steps(self.distill_sequences, batch, self.config.distill_epochs)
        self.state["distill_steps"] = total
        description = f"distillation on {self.distill_sequences} target-labelled sequences"
        return self._fit("distill", lambda s: self._in_draft_ids(batches.batch(s)), total, description)

    def _fit(self, stage: str, batch_of: Any, total: int, description: str) -> str | None:
        """Train the draft for STAGE (distill or align) at the alignment rate: TOTAL steps of
        BATCH_OF(step), resumable from the checkpoint; the stop reason, or None when done."""
        step = self.state["step"]
        if self.model is None:
            self.model = self._draft_from_checkpoint()
        lr = self._align_lr()
        self.optimizer = make_optimizer(self.model, lr)
        if step and ckpt.has_optimizer(self.dir):
            ckpt.load_optimizer(self.dir, self.model, self.optimizer)
        tally = StageTally(**self.state["tallies"].get(stage, {}))
        self.progress.stage_started(stage, total, step, description)

        def save(at: int) -> None:
            self.state["tallies"][stage] = dataclasses.asdict(tally)
            self._save(at)

        step, reason = run_stage(
            stage, self.model, self.optimizer, batch_of, total, lr, step, tally, self.control, save, self.progress
        )
        self.state["tallies"][stage] = dataclasses.asdict(tally)
        self.progress.stage_finished(stage, {"tokens_per_s": tally.tokens_per_s(), "loss": tally.loss})
        if reason:
            return reason
        self.optimizer = None
        self._enter(self._next_stage())
        self._save()
        return None

    def _align_lr(self) -> float:
        """The learning rate of the stages that fit the target's own choices (alignment, distillation)."""
        return self.config.align_lr or self.config.lr / 2

    # -- 5. alignment ------------------------------------------------------------------------------

    def _align(self) -> str | None:
        samples = read_samples(self.data / ALIGN_FILE)
        batch = self.config.batch
        mix = self.config.pretrain_mix_every if self.config.pretrain_tokens else 0
        total = align_steps(len(samples), batch, self.config.align_epochs, mix)
        self.state["align_steps"] = total
        batches = AlignBatches(
            samples,
            batch,
            self.config.seed,
            self.ids["pad"],
            mix,
            self._packed() if mix else None,
            self.state.get("pretrain_steps", 0) * batch,
        )
        description = f"alignment on {len(samples)} target samples"
        return self._fit("align", lambda s: self._in_draft_ids(batches.batch(s)), total, description)

    # -- 7. the draft directory --------------------------------------------------------------------

    def _finish(self) -> str | None:
        self.progress.stage_started("save", 1, 0, "saving the draft")
        if self.model is None:
            self.model = self._draft_from_checkpoint()
        if self.config.measure_cost:
            self.state["cost"] = dataclasses.asdict(measure_cost_ratio(self.model, self._target()))
        self.model.eval()
        save_draft_model(self.model, self.dir, self.target.path, self.vocab)
        copied = copy_tokenizer(self.target.path, self.dir)
        report = self._report()
        write_json(self.dir / REPORT, report)
        self._account()
        recipe = self._recipe(copied)
        write_json(self.dir / RECIPE, recipe)
        self.state["report"] = report
        self.state["recipe"] = recipe
        self.progress.advanced("save", 1)
        self.progress.stage_finished("save", {"path": str(self.dir)})
        self._enter("done")
        self._save(with_model=False)  # state only: the model is in DRAFT_DIR now
        return None

    def _report(self) -> dict[str, Any]:
        report = dict(self.state.get("report", {}))
        before, after = report.get("before"), report.get("after")
        result = {
            "target": str(self.target.path),
            "draft": str(self.dir),
            "chain_lengths": list(CHAIN_LENGTHS),
            "eval_samples": (before or {}).get("samples", 0),
            "head_vocab": self.state.get("head_vocab"),
            "before": before,
            "after": after,
            "cost": self.state.get("cost"),
            "definitions": {
                "before": "after pre-training, before alignment",
                "after": "after alignment",
                "agreement": "fraction of held-out positions where the draft's argmax equals the target's",
                "tau": "tokens per verify step of greedy chain drafting of k tokens (>= 1, bonus included)",
                "head_vocab": "the draft's own vocabulary: size (0: the target's) and the fraction of "
                "training tokens it covers",
            },
        }
        if self.distill_sequences:  # a run without the stage reports what it always did
            result["after_distill"] = report.get("after_distill")
            result["distill"] = self._distill_summary()
            result["definitions"]["after_distill"] = "after token-level distillation, before alignment"
            result["definitions"]["distill"] = "token-level distillation on the target's greedy labels of corpus tokens"
        return result

    def _distill_summary(self) -> dict[str, Any]:
        """What the labelling and distillation stages did (report and recipe)."""
        seconds = self.state.get("stage_seconds", {})
        labels = self.state.get("labels") or {}
        tally = self.state.get("tallies", {}).get("distill", {})
        labelled = labels.get("sequences", 0) * self.config.seq_len
        return {
            "tokens": self.config.distill_tokens,
            "epochs": self.config.distill_epochs,
            "sequences": self.distill_sequences,
            "labelled_tokens": self.distill_sequences * self.config.seq_len,
            "labelled_here_tokens": labelled,  # 0 when a copied data dir held the labels already
            "label_seconds": seconds.get("label", 0.0),
            "label_tokens_per_s": labelled / labels["seconds"] if labels.get("seconds") else 0.0,
            "steps": self.state.get("distill_steps", 0),
            "distill_seconds": seconds.get("distill", 0.0),
            "tokens_per_s": tally.get("tokens", 0) / tally["seconds"] if tally.get("seconds") else 0.0,
            "loss": tally.get("loss"),
        }

    def _recipe(self, tokenizer_files: list[str]) -> dict[str, Any]:
        tallies = self.state.get("tallies", {})
        pre = tallies.get("pretrain", {})
        method = "FastDraft (arXiv 2411.11055): pre-training + sequence-level distillation on target-written data"
        if self.distill_sequences:
            method += ", after token-level distillation on the target's greedy labels of corpus sequences"
        return {
            "method": method,
            "options": self.options,
            "draft": self.state.get("draft"),
            "draft_parameters": sum(p.numel() for p in self.model.parameters()),
            "head_vocab": self.state.get("head_vocab"),
            "target": self.state.get("target"),
            "corpus": self.state.get("corpus"),
            "generation": self.state.get("generation"),
            "steps": {
                "pretrain": self.state.get("pretrain_steps", 0),
                "distill": self.state.get("distill_steps", 0),
                "align": self.state.get("align_steps", 0),
            },
            "distill": self._distill_summary() if self.distill_sequences else None,
            "training": tallies,
            "pretrain_tokens_per_s": pre.get("tokens", 0) / pre["seconds"] if pre.get("seconds") else 0.0,
            "stage_seconds": self.state.get("stage_seconds", {}),
            "cost": self.state.get("cost"),
            "tokenizer_files": tokenizer_files,
            "machine": machine_info(),
        }
