"""OpenVINO's PagedAttention session against the stateful one: same logits through every KV operation."""

from __future__ import annotations

import numpy as np
import pytest

from edge_spec.bundle import load_manifest
from edge_spec.runtimes import open_target
from edge_spec.runtimes.base import TargetSession


def _tree_mask(parents: list[int]) -> np.ndarray:
    """Ancestor-or-self matrix of a parents-first tree (-1: a child of the committed text)."""
    mask = np.zeros((len(parents), len(parents)), dtype=bool)
    for node in range(len(parents)):
        walk = node
        while walk >= 0:
            mask[node, walk] = True
            walk = parents[walk]
    return mask


def _script(session: TargetSession) -> list[np.ndarray]:
    """Prefill, a tree pass, keep one path, a chain pass, truncate, a last pass: every logit."""
    out = [session.forward(np.arange(5, 35)).logits]
    session.commit()
    parents = [-1, -1, 0, 1, 1, 3]  # two roots; node 3 has a child
    mask = _tree_mask(parents)
    depth = mask.sum(axis=1) - 1
    out.append(
        session.forward(np.array([7, 9, 11, 13, 17, 19]), positions=session.length + depth, tree_mask=mask).logits
    )
    session.keep([1, 3, 5])  # root 1 -> 3 -> 5: moved down over rejected nodes, across a block edge (32)
    out.append(session.forward(np.array([23, 29, 31])).logits)
    session.keep([0])
    session.truncate(session.length - 2)
    out.append(session.forward(np.array([37, 41])).logits)
    session.truncate(30)
    out.append(session.forward(np.array([43, 47, 53, 59])).logits)  # a chain across the block edge
    return out


def test_paged_session_matches_the_stateful_one(zoo, arch, monkeypatch) -> None:  # noqa: ANN001
    root, manifest = load_manifest(zoo.bundle(arch))
    paged = open_target(root, manifest, "openvino", "CPU", "exact")
    if manifest.target.sliding_window:
        # sliding layers are masked inside the graph, which PagedAttention does not read
        assert paged.kv_layout == "slots"
        return
    assert paged.kv_layout == "paged"
    monkeypatch.setenv("EDGE_SPEC_OPENVINO_KV", "slots")
    stateful = open_target(root, manifest, "openvino", "CPU", "exact")
    assert stateful.kv_layout == "slots"

    for got, want in zip(_script(paged), _script(stateful), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
        assert np.array_equal(got.argmax(-1), want.argmax(-1))
    assert paged.length == stateful.length


def test_chains_as_one_token_subsequences_match_one_subsequence(zoo) -> None:  # noqa: ANN001
    """Short chains go in as one-token subsequences (the CPU plugin's one-token kernel); the
    logits must be those of the chain as one subsequence, at every length up to the limit."""
    from edge_spec.runtimes.openvino_paged import CHAIN_SPLIT_MAX

    root, manifest = load_manifest(zoo.bundle("llama"))
    split = open_target(root, manifest, "openvino", "CPU", "exact")
    whole = open_target(root, manifest, "openvino", "CPU", "exact")
    assert split.split_max == CHAIN_SPLIT_MAX >= 2
    whole.split_max = 0
    for session in (split, whole):
        session.forward(np.arange(5, 35))  # 30 entries: the chains below cross the block edge at 32
        session.commit()
    for count in range(2, CHAIN_SPLIT_MAX + 2):
        tokens = np.arange(60, 60 + count)
        got, want = split.forward(tokens).logits, whole.forward(tokens).logits
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
        assert np.array_equal(got.argmax(-1), want.argmax(-1))
        for session in (split, whole):
            session.truncate(30)


def test_unknown_layout_is_one_line(zoo, monkeypatch) -> None:  # noqa: ANN001
    from edge_spec.errors import EdgeSpecError

    root, manifest = load_manifest(zoo.bundle("llama"))
    monkeypatch.setenv("EDGE_SPEC_OPENVINO_KV", "pages")
    with pytest.raises(EdgeSpecError, match="EDGE_SPEC_OPENVINO_KV=pages: unknown"):
        open_target(root, manifest, "openvino", "CPU", "exact")
