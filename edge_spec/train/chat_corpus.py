"""The target's own chat answers, written to text files for `edge-spec ngram build`.

Hierarchy Drafting's model database holds n-grams of what the model itself writes. The runtime's
model DB learns them from the user's own generations, so a fresh install starts empty; this
builds the same kind of tier offline: the target writes Magpie questions (magpie.py, sampled),
answers each greedily as a chat turn, and every conversation after the template's default system
prompt goes to a text file, template markers included, so the answer's first words are keyed by
the assistant opener. No outside prompt set is read, so no benchmark prompt can leak in.

Each job (a batch of conversations) is one file, chat-s{seed}-b{batch}-{job}.txt, written
atomically and seeded from (seed, job number): a run stopped at any point continues where it
stopped and writes the same files it would have written in one go, and a run with another seed
or batch size adds its own files next to them instead of mixing with theirs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_spec.bundle import atomic_write_text
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

FILE_PATTERN = "chat-s{seed}-b{batch}-{job:05d}.txt"


@dataclass(frozen=True)
class ChatCorpusConfig:
    target: Path  # a Hugging Face causal LM directory with a chat template
    output: Path  # the folder the text files go to
    conversations: int = 512
    batch: int = 16  # conversations generated together (one file)
    answer_tokens: int = 256
    seed: int = 0
    threads: int | None = None


@dataclass
class ChatCorpusResult:
    output: Path
    files: int  # files in the folder now
    written: int  # files this run wrote
    characters: int  # characters this run wrote


def write_chat_corpus(
    config: ChatCorpusConfig,
    on_job: Callable[[int, int], None] | None = None,
) -> ChatCorpusResult:
    """Write the corpus; ON_JOB(done, total) after each file. Files already there are kept."""
    if config.conversations < 1 or config.batch < 1 or config.answer_tokens < 1:
        raise EdgeSpecError("--conversations, --batch and --answer-tokens must be at least 1")
    import torch

    from edge_spec.train.fastdraft import requested_threads
    from edge_spec.train.magpie import chat_prefix, stop_token_ids
    from edge_spec.train.target_generation import GenerationSettings, Job, TargetWriter
    from edge_spec.train.target_model import check_target, eos_and_pad_ids, load_target_model, load_tokenizer

    if config.output.exists() and not config.output.is_dir():
        raise EdgeSpecError(f"{config.output}: exists and is not a folder; give a folder for the text files")
    target = check_target(config.target)
    tokenizer = load_tokenizer(target)
    prefix = chat_prefix(tokenizer)
    if prefix is None:
        raise EdgeSpecError(f"{target.path}: the tokenizer has no usable chat template; chat data needs one")
    jobs = math.ceil(config.conversations / config.batch)
    files = [config.output / FILE_PATTERN.format(seed=config.seed, batch=config.batch, job=n) for n in range(jobs)]
    todo = [n for n in range(jobs) if not files[n].exists()]
    done = jobs - len(todo)
    if on_job:
        on_job(done, jobs)
    written = characters = 0
    previous_threads = torch.get_num_threads()
    try:
        if todo:
            torch.set_num_threads(requested_threads(config.threads) or previous_threads)
            config.output.mkdir(parents=True, exist_ok=True)
            ids = eos_and_pad_ids(target)
            settings = GenerationSettings(batch=config.batch, answer_tokens=config.answer_tokens)
            stops = stop_token_ids(tokenizer, prefix, ids["eos"])
            writer = TargetWriter(
                load_target_model(target), tokenizer, settings, config.seed, stops, ids["pad"], prefix, None, None
            )
            for number in todo:
                size = min(config.batch, config.conversations - number * config.batch)
                records = writer.run(Job(number, "align", "chat", size, greedy=True))
                text = "\n\n".join(tokenizer.decode(r["ids"][r["start"] :]) for r in records)
                atomic_write_text(files[number], text + "\n")
                written += 1
                characters += len(text)
                done += 1
                if on_job:
                    on_job(done, jobs)
    finally:
        torch.set_num_threads(previous_threads)  # leave torch's threads as they were found
    log.info("chat corpus in %s: %d files (%d written now)", config.output, done, written)
    return ChatCorpusResult(output=config.output, files=done, written=written, characters=characters)
