"""The default numerics are measured once per bundle and device, then read from the cache."""

from __future__ import annotations

import json

from edge_spec.bundle import load_manifest
from edge_spec.runtimes.openvino import CALIBRATION, FAST_CANDIDATES, OpenVINOSession


def test_auto_numerics_is_measured_once_and_cached(zoo, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    root, manifest = load_manifest(zoo.bundle("llama"))
    path = root / manifest.target.formats["openvino"]["path"]
    monkeypatch.setenv("EDGE_SPEC_CACHE", str(tmp_path))

    first = OpenVINOSession(path, manifest.target, numerics="auto")
    assert first.numerics in FAST_CANDIDATES
    known = json.loads((tmp_path / "numerics.json").read_text())
    (key,) = known
    assert key.startswith(CALIBRATION) and known[key] == first.numerics

    # a cached choice is taken as it is, even the other candidate: no second measurement
    other = next(name for name in FAST_CANDIDATES if name != first.numerics)
    (tmp_path / "numerics.json").write_text(json.dumps({key: other}))
    assert OpenVINOSession(path, manifest.target, numerics="auto").numerics == other

    # a choice cached by an older calibration method is measured again
    (tmp_path / "numerics.json").write_text(json.dumps({key.replace(CALIBRATION, "old", 1): other}))
    OpenVINOSession(path, manifest.target, numerics="auto")
    assert key in json.loads((tmp_path / "numerics.json").read_text())
