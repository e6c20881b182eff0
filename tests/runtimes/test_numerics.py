"""Exact mode stays exact whatever else was compiled before it (model cache included)."""

from __future__ import annotations

import numpy as np

from edge_spec.bundle import load_manifest
from edge_spec.runtimes.openvino import OpenVINOSession


def test_exact_after_fast_mode_is_still_exact(zoo, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    root, manifest = load_manifest(zoo.bundle("llama"))
    path = root / manifest.target.formats["openvino"]["path"]
    prompt = np.arange(3, 40)

    monkeypatch.setenv("EDGE_SPEC_CACHE", str(tmp_path / "clean"))
    reference = OpenVINOSession(path, manifest.target, numerics="exact").forward(prompt).logits

    monkeypatch.setenv("EDGE_SPEC_CACHE", str(tmp_path / "shared"))
    OpenVINOSession(path, manifest.target, numerics="auto").forward(prompt)  # bf16 and f32 blobs cached first
    after_fast = OpenVINOSession(path, manifest.target, numerics="exact").forward(prompt).logits
    assert np.array_equal(reference, after_fast)
