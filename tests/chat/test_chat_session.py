"""ChatSession: the KV cache is kept between turns, and answers equal a fresh generate."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_spec import Pipeline
from edge_spec.bundle import MANIFEST, file_entry
from edge_spec.errors import EdgeSpecError
from edge_spec.pipeline import GenerationConfig

CONFIG = GenerationConfig(max_new_tokens=24)


@pytest.mark.parametrize("drafter", ["none", "ngram"])
def test_turn_two_prefills_only_what_is_new(zoo, drafter: str) -> None:  # noqa: ANN001
    pipe = Pipeline.load(zoo.bundle("llama"), exact=True, drafter=drafter, model_db=None)
    chat = pipe.chat(system="You are brief.", config=CONFIG)
    first = chat.send("What is 2 + 2?")
    cached = len(chat._cached)
    full = chat.render("And 3 + 3?")
    before = pipe.session.tokens_processed
    second = chat.send("And 3 + 3?")
    fed = pipe.session.tokens_processed - before
    # the earlier turns stay in the cache: turn 2's first pass (its prefill) is the new tail only
    prefill = len(full) - min(cached, len(full))
    assert prefill < len(full) // 2
    assert fed <= prefill + second.stats.new_tokens + pipe.planner().max_nodes * second.stats.target_forwards
    fresh = Pipeline.load(zoo.bundle("llama"), exact=True).generate(chat.messages()[:-1], config=CONFIG)
    assert second.tokens == fresh.tokens
    assert first.tokens and chat.turns[-1].answer == second.text.replace("<|im_end|>", "")


def test_prefill_count_is_exact_with_plain_decoding(zoo) -> None:  # noqa: ANN001
    pipe = Pipeline.load(zoo.bundle("qwen2"), exact=True, drafter="none")
    chat = pipe.chat(config=CONFIG)
    chat.send("Hello there")
    cached = list(chat._cached)
    full = chat.render("Tell me more")
    common = next((i for i, (a, b) in enumerate(zip(cached, full)) if a != b), min(len(cached), len(full)))
    before = pipe.session.tokens_processed
    second = chat.send("Tell me more")
    # plain decoding: the prefill feeds the new tail, then one token per step
    assert pipe.session.tokens_processed - before == (len(full) - common) + second.stats.new_tokens - 1
    assert len(full) - common < len(full) - cached.__len__() + 8  # at most a few re-fed tokens


def test_undo_reset_save_load(zoo, tmp_path) -> None:  # noqa: ANN001
    pipe = Pipeline.load(zoo.bundle("llama"), exact=True, drafter="ngram", model_db=None)
    chat = pipe.chat(config=CONFIG)
    a = chat.send("Hi!")
    chat.send("Something else")
    assert chat.undo()
    assert len(chat.turns) == 1
    b = chat.send("Another thing")
    fresh = Pipeline.load(zoo.bundle("llama"), exact=True).generate(chat.messages()[:-1], config=CONFIG)
    assert b.tokens == fresh.tokens
    path = tmp_path / "chat.json"
    chat.save(path)
    chat.reset()
    assert chat.turns == [] and pipe.session.length == 0
    chat.load(path)
    assert [t.user for t in chat.turns] == ["Hi!", "Another thing"]
    c = chat.send("Last one")
    fresh = Pipeline.load(zoo.bundle("llama"), exact=True).generate(chat.messages()[:-1], config=CONFIG)
    assert c.tokens == fresh.tokens and a.tokens


def test_bad_input_keeps_the_chat_alive(zoo, tmp_path) -> None:  # noqa: ANN001
    pipe = Pipeline.load(zoo.bundle("llama"), exact=True, drafter="none")
    chat = pipe.chat(config=CONFIG)
    with pytest.raises(EdgeSpecError, match="empty"):
        chat.send("   ")
    with pytest.raises(EdgeSpecError, match="context"):
        chat.send("word " * 600)  # the tiny models' context is 512
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(EdgeSpecError, match="not a saved chat"):
        chat.load(bad)
    assert chat.send("Still here?").tokens
    chat.send("x")
    with pytest.raises(EdgeSpecError, match="context"):  # after a cache that holds a turn
        chat.send("word " * 600)
    assert chat.send("And now?").tokens


def without_chat_template(bundle, dest):  # noqa: ANN001, ANN201
    """A copy of BUNDLE whose tokenizer has no chat template (manifest checksums updated)."""
    shutil.copytree(bundle, dest)
    tok = dest / "tokenizer"
    (tok / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((tok / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tok / "tokenizer_config.json").write_text(json.dumps(config))
    manifest = json.loads((dest / MANIFEST).read_text())
    manifest["files"].pop("tokenizer/chat_template.jinja", None)
    manifest["files"]["tokenizer/tokenizer_config.json"] = file_entry(tok / "tokenizer_config.json")
    (dest / MANIFEST).write_text(json.dumps(manifest))
    return dest


def test_completion_mode_without_a_chat_template(zoo, tmp_path) -> None:  # noqa: ANN001
    bundle = without_chat_template(zoo.bundle("llama"), tmp_path / "plain.bundle")
    pipe = Pipeline.load(bundle, exact=True, drafter="none")
    chat = pipe.chat(config=CONFIG)
    assert chat.completion_mode
    first = chat.send("Once upon a time")
    second = chat.send(" and then")
    fresh = pipe.generate("Once upon a time" + chat.turns[0].answer + " and then", config=CONFIG)
    assert first.tokens and second.tokens == fresh.tokens


def test_overflow_policies(zoo) -> None:  # noqa: ANN001
    """drop-oldest drops the oldest exchanges to fit the context; error refuses with one line."""
    pipe = Pipeline.load(zoo.bundle("llama"), exact=True, drafter="none")
    message = "tell me more about " + "the sea " * 60  # about 130 tokens; the tiny context is 512
    chat = pipe.chat(config=CONFIG, overflow="drop-oldest")
    for _ in range(5):
        result = chat.send(message)
    assert chat.dropped_turns >= 2 and len(chat.turns) == 5 - chat.dropped_turns
    fresh = pipe.generate(chat.messages()[:-1], config=CONFIG)  # the kept conversation, fresh
    assert result.tokens == fresh.tokens

    strict = pipe.chat(config=CONFIG, overflow="error")
    with pytest.raises(EdgeSpecError, match="context") as info:
        for _ in range(5):
            strict.send(message)
    assert "\n" not in str(info.value)
    strict.reset()
    assert strict.send("short again").tokens
    with pytest.raises(ValueError, match="overflow"):
        pipe.chat(overflow="wrap")
