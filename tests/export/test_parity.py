"""The exported graphs compute what PyTorch computes: causal blocks and tree-masked blocks.

The reference never goes through our wrapper: every row is compared with the HF model run on
the plain token sequence that row should see (its prompt and its root-to-node path).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import load_torch

from edge_spec.bundle import load_manifest
from edge_spec.runtimes import open_target

RTOL = 1e-4  # max |diff| <= RTOL * max |logit|
PROMPT = [int(t) for t in np.random.default_rng(0).integers(3, 40000, size=20)]


def hf_logits(model, ids: list[int]) -> np.ndarray:  # noqa: ANN001
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    scale = float(np.abs(want).max())
    diff = float(np.abs(got - want).max())
    assert diff <= RTOL * scale, f"{what}: max |diff| {diff:.3g} > {RTOL} x {scale:.3g}"


@pytest.fixture
def session_and_model(zoo, arch, backend):  # noqa: ANN001, ANN201
    root, manifest = load_manifest(zoo.bundle(arch))
    return open_target(root, manifest, backend, "CPU", "exact"), load_torch(zoo.model(arch))


def test_causal_parity(session_and_model) -> None:  # noqa: ANN001
    session, model = session_and_model
    full = PROMPT + [11, 22, 33, 44, 55]
    want = hf_logits(model, full)
    first = session.forward(np.array(PROMPT)).logits  # prefill, empty past
    assert_close(first, want[: len(PROMPT)], "prefill")
    second = session.forward(np.array(full[len(PROMPT) :])).logits  # a causal block after a past
    assert_close(second, want[len(PROMPT) :], "block after past")
    session.commit()
    assert session.length == len(full)


def test_tree_mask_parity_and_compaction(session_and_model) -> None:  # noqa: ANN001
    session, model = session_and_model
    prompt = PROMPT[:12]
    # root 0 with two children (1, 2: siblings that must not see each other), 1 has children 3, 4
    tokens = [101, 202, 303, 404, 505]
    parents = [-1, 0, 0, 1, 1]
    depth = [0, 1, 1, 2, 2]
    mask = np.zeros((5, 5), dtype=bool)
    for node in range(5):
        walk = node
        while walk != -1:
            mask[node, walk] = True
            walk = parents[walk]

    def path(node: int) -> list[int]:
        out = []
        while node != -1:
            out.append(tokens[node])
            node = parents[node]
        return out[::-1]

    session.forward(np.array(prompt))
    positions = np.array([len(prompt) + d for d in depth])
    got = session.forward(np.array(tokens), positions, mask).logits
    for node in range(5):
        want = hf_logits(model, prompt + path(node))[-1]
        assert_close(got[node], want, f"tree node {node}")

    # keep the path 0 -> 1 -> 4, then a further token must see exactly prompt + that path
    session.keep([0, 1, 4])
    assert session.length == len(prompt) + 3
    nxt = session.forward(np.array([606])).logits[-1]
    assert_close(nxt, hf_logits(model, prompt + path(4) + [606])[-1], "after keeping a path")


def test_rejections_and_compaction_keep_the_logical_cache(session_and_model) -> None:  # noqa: ANN001
    """Many verify passes that keep only their first token: the cache must still be exactly
    prompt + kept tokens (for OpenVINO's stateful cache this crosses a compaction)."""
    session, model = session_and_model
    sequence = PROMPT[:12]
    session.forward(np.array(sequence))
    rng = np.random.default_rng(1)
    for _ in range(45):
        block = [int(t) for t in rng.integers(3, 40000, size=8)]
        session.forward(np.array(block))
        session.keep([0])
        sequence.append(block[0])
    assert session.length == len(sequence)
    if hasattr(session.kv, "compactions"):
        assert session.kv.compactions >= 1
    got = session.forward(np.array([777])).logits[-1]
    assert_close(got, hf_logits(model, sequence + [777])[-1], "after 45 rejections")

    session.commit()
    session.truncate(20)  # e.g. /undo in a chat
    got = session.forward(np.array([888])).logits[-1]
    assert_close(got, hf_logits(model, sequence[:20] + [888])[-1], "after truncate")
