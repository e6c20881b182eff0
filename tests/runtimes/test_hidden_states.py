"""Hidden-state outputs are returned only when asked for, and leave the logits untouched."""

from __future__ import annotations

import numpy as np

from edge_spec.bundle import load_manifest
from edge_spec.runtimes import open_target


def test_hidden_states_only_on_request(zoo, backend) -> None:  # noqa: ANN001
    root, manifest = load_manifest(zoo.bundle("llama"))
    prompt = np.arange(3, 20)
    plain = open_target(root, manifest, backend, "CPU", "exact").forward(prompt)
    with_hidden = open_target(root, manifest, backend, "CPU", "exact", hidden_states=True).forward(prompt)

    assert plain.hidden == {}
    assert set(with_hidden.hidden) == {"hidden_final", "hidden_early"}
    for value in with_hidden.hidden.values():
        assert value.shape == (len(prompt), manifest.target.hidden_size)
    np.testing.assert_allclose(plain.logits, with_hidden.logits, rtol=0, atol=1e-5 * np.abs(plain.logits).max())
