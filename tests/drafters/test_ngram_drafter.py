"""The n-gram drafter's tiers: context lookups, the model DB's learning and persistence, thresholds."""

from __future__ import annotations

import logging

import numpy as np

from edge_spec import Pipeline
from edge_spec.drafters.base import DraftBudget
from edge_spec.drafters.ngram import CountThresholds, NgramConfig, NgramDrafter
from edge_spec.drafters.ngram_context import ContextNgrams
from edge_spec.drafters.ngram_model import ModelNgramDB

BUDGET = DraftBudget(max_nodes=32, max_depth=8)


def test_context_copies_what_followed_the_suffix() -> None:
    ctx = ContextNgrams(max_n=3)
    ctx.extend([1, 2, 3, 4, 5, 9, 9, 1, 2, 3])
    found = ctx.candidates(max_depth=4, max_candidates=7, min_support={1: 1})
    assert found[0].tokens == [4, 5, 9, 9] and found[0].order == 3
    # a 1-token match must repeat before it is trusted
    ctx = ContextNgrams(max_n=3)
    ctx.extend([7, 8, 5, 7])
    assert ctx.candidates(4, 7, {1: 2}) == []
    assert ctx.candidates(4, 7, {1: 1})[0].tokens == [8, 5, 7]


def test_context_prefers_a_long_copy_in_a_repetition() -> None:
    ctx = ContextNgrams(max_n=2)
    ctx.extend([5, 6] * 10)
    (best, *_) = ctx.candidates(max_depth=6, max_candidates=7, min_support={})
    assert best.tokens == [5, 6, 5, 6, 5, 6]


def test_context_match_counts_agreement_beyond_the_index() -> None:
    # the index keys stop at 2 tokens, but 6 tokens before the copied spot equal the history's end
    ctx = ContextNgrams(max_n=2)
    ctx.extend([9, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6])
    (best, *_) = ctx.candidates(max_depth=2, max_candidates=7, min_support={})
    assert (best.tokens, best.order, best.match) == ([7, 8], 2, 6)


def test_drafter_priors_and_sources_follow_the_match_band() -> None:
    drafter = NgramDrafter()
    drafter.observe([9, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6])  # a 6-token match: band 8
    long_copy = drafter.propose(BUDGET)
    drafter.reset()
    drafter.observe([9, 1, 2, 7, 8, 0, 5, 6, 3, 2, 0, 4, 3, 1, 5, 6])  # a 2-token match: band 2
    short_copy = drafter.propose(BUDGET)
    prior = drafter.config.context_prior
    assert long_copy.sources[0] == "context:8" and short_copy.sources[0] == "context:2"
    assert np.allclose(long_copy.probs[1:], prior[8]) and np.allclose(short_copy.probs[1:], prior[2])
    assert prior[8] > prior[2]


def test_model_db_learns_persists_and_merges(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "model.esng"
    first = ModelNgramDB.open(path, vocab_size=100, tokenizer_hash="ab" * 32)
    first.learn([50, 51, 1, 2, 3, 1, 2, 3], prompt_len=2)  # the prompt (50, 51) is context only
    tokens, counts, total = first.lookup([1, 2])
    assert tokens.tolist() == [3] and counts.tolist() == [1] and total == 1  # once per answer
    assert first.lookup([50])[0].size == 0
    second = ModelNgramDB.open(path, vocab_size=100, tokenizer_hash="ab" * 32)
    second.learn([1, 2, 4], prompt_len=0)
    first.save()
    second.save()  # re-reads the file: both runs' counts survive
    merged = ModelNgramDB.open(path, vocab_size=100, tokenizer_hash="ab" * 32)
    tokens, counts, _ = merged.lookup([1, 2])
    assert dict(zip(tokens.tolist(), counts.tolist())) == {3: 1, 4: 1}


def test_damaged_model_db_is_set_aside(tmp_path, caplog) -> None:  # noqa: ANN001
    path = tmp_path / "model.esng"
    path.write_bytes(b"not a database")
    with caplog.at_level(logging.WARNING):
        db = ModelNgramDB.open(path, tokenizer_hash="ab" * 32)
    assert len(db) == 0 and str(path) in caplog.text


class Table:
    """A hand-made count table."""

    max_order = 2

    def __init__(self, rows: dict[tuple[int, ...], dict[int, int]]):
        self.rows = rows

    def lookup(self, key):  # noqa: ANN001, ANN201
        counts = self.rows.get(tuple(key), {})
        items = sorted(counts.items(), key=lambda kv: -kv[1])
        return np.array([t for t, _ in items]), np.array([c for _, c in items]), sum(counts.values())


def test_count_tiers_follow_their_thresholds() -> None:
    strong = Table({(1,): {2: 9, 5: 3}, (1, 2): {3: 9}, (2, 3): {4: 9}, (3, 4): {1: 1}})
    drafter = NgramDrafter(model_db=strong)
    drafter.reset()
    drafter.observe([7, 1])
    tree = drafter.propose(BUDGET)
    # 1 -> 2 (9 of 12: passes strict 1-gram share 0.75), then 2-gram keys; (3,4) -> 1 has count 1: stop
    assert tree.tokens.tolist()[:3] == [2, 3, 4]
    assert 5 in tree.tokens.tolist()  # the runner-up (3 of 12 = 25%) gets its own branch
    assert set(tree.sources) <= {"model:1", "model:2"}
    weak = Table({(1,): {2: 2, 5: 2}})
    drafter = NgramDrafter(model_db=weak)
    drafter.reset()
    drafter.observe([7, 1])
    assert len(drafter.propose(BUDGET)) == 0


def test_static_tier_leaves_a_minority_continuation_to_the_planner() -> None:
    """The static DB proposes its top continuation with its share as the prior, unless it is
    rare or a small minority; the config's thresholds decide, and a single context match counts."""
    minority = Table({(1,): {2: 4, 5: 3, 6: 3}})  # 2 leads with 40%: the old clear-majority rule refused it
    drafter = NgramDrafter(static_db=minority)
    drafter.reset()
    drafter.observe([7, 1])
    tree = drafter.propose(BUDGET)
    assert tree.tokens.tolist()[0] == 2 and tree.sources[0] == "static:1"
    assert np.isclose(tree.probs[0], 0.4)
    assert 5 in tree.tokens.tolist()  # the 30% runner-up gets its own branch
    for refused in (Table({(1,): {2: 3}}), Table({(1,): {t: 5 for t in range(2, 14)}})):  # rare; 8% share
        drafter = NgramDrafter(static_db=refused)
        drafter.reset()
        drafter.observe([7, 1])
        assert len(drafter.propose(BUDGET)) == 0
    strict = NgramConfig(static_thresholds=CountThresholds(min_count={1: 8}, min_share={1: 0.5}))
    drafter = NgramDrafter(static_db=minority, config=strict)
    drafter.reset()
    drafter.observe([7, 1])
    assert len(drafter.propose(BUDGET)) == 0
    drafter = NgramDrafter()  # context tier: one earlier occurrence of a 1-token suffix is enough
    drafter.observe([7, 8, 5, 7])
    assert drafter.propose(BUDGET).tokens.tolist()[:3] == [8, 5, 7]


def test_pipeline_model_db_round_trip(zoo, tmp_path) -> None:  # noqa: ANN001
    """A closed pipeline saves what its model wrote; the next one drafts from it, same output."""
    bundle = zoo.bundle("llama")
    path = tmp_path / "model.esng"
    prompt = "def fibonacci(n):\n    "
    with Pipeline.load(bundle, exact=True, drafter="ngram", model_db=path) as pipe:
        for _ in range(3):  # the model tier is strict: an n-gram must come back in several answers
            first = pipe.generate(prompt, max_new_tokens=40)
    assert path.is_file()
    with Pipeline.load(bundle, exact=True, drafter="ngram", model_db=path, learn=False) as pipe:
        again = pipe.generate(prompt, max_new_tokens=40)
    assert again.tokens == first.tokens
    assert any(source.startswith("model:") for source in again.stats.tier_hits)
