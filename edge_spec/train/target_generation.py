"""The target writes the alignment data (sequence-level distillation) and the held-out set.

Two kinds of samples, generated in batches ("jobs") with torch:
* code/text continuations: a random cut of a corpus document is the prompt (every prompt of a
  job has the same length, so no padding), the target continues it, greedy for even jobs and
  sampled (temperature 0.8, top-p 0.95) for odd ones;
* chat (targets with a chat template): Magpie (see magpie.py): the target writes a question
  from the template's user prefix (sampled at temperature 1), then answers it through the
  template (left-padded batch; greedy or sampled at 0.7, alternating by job).

The held-out set comes first: continuations of the evaluation pool's documents and a few chat
samples, all answered greedily, with the target's teacher-forced argmax stored per position.
The alignment set follows. Every job is seeded from (seed, job number), so a run that resumes
after an interruption makes the same samples; finished jobs are appended to jsonl files and the
count and file sizes recorded in generation.json (a partly written job is cut off on resume).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_spec.train.corpus import TokenStore
from edge_spec.train.magpie import ChatPrefix, render

log = logging.getLogger(__name__)

EVAL_FILE = "eval.jsonl"
ALIGN_FILE = "align.jsonl"
PROGRESS_FILE = "generation.json"


@dataclass(frozen=True)
class GenerationSettings:
    batch: int = 8
    prompt_tokens: tuple[int, int] = (32, 128)  # continuation prompt length range
    continuation_tokens: int = 192
    question_tokens: int = 64
    answer_tokens: int = 192
    sample_temperature: float = 0.8
    answer_temperature: float = 0.7
    question_temperature: float = 1.0
    top_p: float = 0.95


@dataclass(frozen=True)
class Job:
    number: int  # position in the plan; seeds the job
    split: str  # "eval" or "align"
    kind: str  # "code" (continuation) or "chat" (Magpie)
    size: int
    greedy: bool


def plan_jobs(eval_code: int, eval_chat: int, align_samples: int, chat: bool, batch: int) -> list[Job]:
    """The jobs of a run: held-out code, held-out chat, then alignment code and chat interleaved."""
    specs: list[tuple[str, str, int, bool]] = []

    def add(split: str, kind: str, count: int, greedy: Callable[[int], bool]) -> list[tuple[str, str, int, bool]]:
        out = []
        for i, start in enumerate(range(0, count, batch)):
            out.append((split, kind, min(batch, count - start), greedy(i)))
        return out

    specs += add("eval", "code", eval_code, lambda i: True)
    specs += add("eval", "chat", eval_chat if chat else 0, lambda i: True)
    chat_count = align_samples // 2 if chat else 0
    code = add("align", "code", align_samples - chat_count, lambda i: i % 2 == 0)
    talk = add("align", "chat", chat_count, lambda i: i % 2 == 0)
    for i in range(max(len(code), len(talk))):
        specs += code[i : i + 1] + talk[i : i + 1]
    return [Job(n, *spec) for n, spec in enumerate(specs)]


class SampleWriter:
    """Appends finished jobs' samples to the jsonl files and records progress after each job."""

    def __init__(self, directory: Path, jobs: list[Job]):
        self.directory = directory
        self.jobs = jobs
        self.progress_path = directory / PROGRESS_FILE
        self.done = 0
        self.sizes = {EVAL_FILE: 0, ALIGN_FILE: 0}
        self.counts = {EVAL_FILE: 0, ALIGN_FILE: 0}
        if self.progress_path.is_file():
            saved = json.loads(self.progress_path.read_text(encoding="utf-8"))
            if saved.get("plan") == [list(_job_key(j)) for j in jobs]:
                self.done, self.sizes, self.counts = saved["done"], saved["sizes"], saved["counts"]
        for name, size in self.sizes.items():  # drop whatever a crash left after the last finished job
            path = directory / name
            with open(path, "ab") as f:
                f.truncate(size)

    @property
    def finished(self) -> bool:
        return self.done >= len(self.jobs)

    def write(self, job: Job, records: list[dict[str, Any]]) -> None:
        name = EVAL_FILE if job.split == "eval" else ALIGN_FILE
        path = self.directory / name
        with open(path, "ab") as f:
            for record in records:
                f.write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"))
        self.sizes[name] = path.stat().st_size
        self.counts[name] += len(records)
        self.done = job.number + 1
        state = {
            "done": self.done,
            "sizes": self.sizes,
            "counts": self.counts,
            "plan": [list(_job_key(j)) for j in self.jobs],
        }
        tmp = self.progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self.progress_path)


def _job_key(job: Job) -> tuple[int, str, str, int, bool]:
    return (job.number, job.split, job.kind, job.size, job.greedy)


def read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class TargetWriter:
    """Runs jobs on the target model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        settings: GenerationSettings,
        seed: int,
        stop_ids: list[int],
        pad_id: int,
        chat: ChatPrefix | None,
        train_store: TokenStore,
        eval_store: TokenStore,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.seed = seed
        self.stop_ids = stop_ids
        self.pad_id = pad_id
        self.chat = chat
        self.stores = {"align": train_store, "eval": eval_store}

    def run(self, job: Job) -> list[dict[str, Any]]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_job_seed(self.seed, job.number))
            rng = np.random.default_rng([self.seed, 0x6E4, job.number])
            records = self._code(job, rng) if job.kind == "code" else self._chat(job)
        if job.split == "eval":
            for record in records:
                record["target_argmax"] = self._argmax(record["ids"], record["start"])
        return records

    # -- continuations -------------------------------------------------------------------------

    def _code(self, job: Job, rng: np.random.Generator) -> list[dict[str, Any]]:
        store = self.stores[job.split]
        lengths = store.doc_lengths()
        low, high = self.settings.prompt_tokens
        prompt_len = int(rng.integers(low, high + 1))
        longest = int(lengths.max()) if len(lengths) else 0
        prompt_len = min(prompt_len, longest - 1)
        if prompt_len < 1:
            return []
        eligible = np.flatnonzero(lengths > prompt_len)
        docs = rng.choice(eligible, size=job.size, replace=True)
        prompts = []
        for doc in docs:
            tokens = store.doc(int(doc))
            cut = int(rng.integers(prompt_len, len(tokens)))  # at least one real token after the cut
            prompts.append(tokens[cut - prompt_len : cut])
        ids = torch.as_tensor(np.stack(prompts), dtype=torch.long)
        new = self._generate(ids, torch.ones_like(ids), self.settings.continuation_tokens, job.greedy, "sample")
        return [
            {"kind": "code", "greedy": job.greedy, "start": prompt_len, "ids": [*map(int, p), *gen]}
            for p, gen in zip(prompts, new)
            if gen
        ]

    # -- Magpie chat ---------------------------------------------------------------------------

    def _chat(self, job: Job) -> list[dict[str, Any]]:
        assert self.chat is not None
        opener = self.tokenizer.encode(self.chat.question_prompt, add_special_tokens=False)
        ids = torch.tensor([opener] * job.size, dtype=torch.long)
        asked = self._generate(ids, torch.ones_like(ids), self.settings.question_tokens, False, "question")
        questions = [self.tokenizer.decode(q, skip_special_tokens=True).strip() for q in asked]
        questions = [q for q in questions if q]
        if not questions:
            return []
        prompts = [
            self.tokenizer.encode(
                render(self.tokenizer, [{"role": "user", "content": q}], add_generation_prompt=True),
                add_special_tokens=False,
            )
            for q in questions
        ]
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        answers = self._generate(ids, mask, self.settings.answer_tokens, job.greedy, "answer")
        records = []
        for question, prompt, answer in zip(questions, prompts, answers):
            if not answer:
                continue
            if job.split == "eval":  # the target's own tokens, as a speculative loop would see them
                records.append({"kind": "chat", "greedy": True, "start": len(prompt), "ids": [*prompt, *answer]})
                continue
            text = self.tokenizer.decode(answer, skip_special_tokens=True).strip()
            if not text:
                continue
            conversation = [{"role": "user", "content": question}, {"role": "assistant", "content": text}]
            rendered = render(self.tokenizer, conversation, add_generation_prompt=False)
            sample = self.tokenizer.encode(rendered, add_special_tokens=False)
            start = len(self.tokenizer.encode(self.chat.preamble, add_special_tokens=False)) if self.chat else 0
            records.append({"kind": "chat", "greedy": job.greedy, "start": max(start, 1), "ids": sample})
        return records

    # -- torch ---------------------------------------------------------------------------------

    @torch.no_grad()
    def _generate(
        self, ids: torch.Tensor, mask: torch.Tensor, max_new: int, greedy: bool, what: str
    ) -> list[list[int]]:
        """New tokens of each row, cut after the first stop token (kept)."""
        from transformers import GenerationConfig

        s = self.settings
        temperature = {"sample": s.sample_temperature, "answer": s.answer_temperature}.get(what, s.question_temperature)
        config = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=not greedy,
            temperature=temperature if not greedy else None,
            top_p=(s.top_p if what != "question" else 1.0) if not greedy else None,
            top_k=0 if not greedy else None,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        rows = []
        stops = set(self.stop_ids)
        for row in out[:, ids.shape[1] :].tolist():
            for i, token in enumerate(row):
                if token in stops:
                    row = row[: i + 1]
                    break
            rows.append(row)
        return rows

    @torch.no_grad()
    def _argmax(self, ids: list[int], start: int) -> list[int]:
        """The target's argmax at positions start-1 .. len-2 (what it would emit after each prefix)."""
        logits = self.model(input_ids=torch.tensor([ids[:-1]]), use_cache=False).logits[0]
        return logits[start - 1 :].argmax(-1).tolist()


def _job_seed(seed: int, number: int) -> int:
    return int(np.random.default_rng([seed, 0x5EED, number]).integers(0, 2**62))
