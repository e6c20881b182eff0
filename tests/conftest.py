"""Session-wide fixtures: tiny models and their exported bundles, built once per test run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tiny_models import ARCHITECTURES, make_model_dir  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep compiled-model caches and calibrations out of the user's ~/.cache."""
    os.environ["EDGE_SPEC_CACHE"] = str(tmp_path_factory.mktemp("edge-spec-cache"))


class TinyZoo:
    """Builds each tiny model and bundle on first request, then reuses it."""

    def __init__(self, root: Path):
        self.root = root
        self.models: dict[str, Path] = {}
        self.bundles: dict[tuple[str, str], Path] = {}
        self.draft_bundles: dict[tuple[str, str], Path] = {}

    def model(self, arch: str) -> Path:
        if arch not in self.models:
            self.models[arch] = make_model_dir(arch, self.root / "models" / arch)
        return self.models[arch]

    def bundle(self, arch: str, weights: str = "fp32") -> Path:
        key = (arch, weights)
        if key not in self.bundles:
            from edge_spec.export.exporter import ExportOptions, export_model

            out = self.root / "bundles" / f"{arch}-{weights}"
            export_model(self.model(arch), out, ExportOptions(formats=("openvino", "onnx"), weights=weights))
            self.bundles[key] = out
        return self.bundles[key]

    def bundle_with_draft(self, arch: str, draft: str = "other") -> Path:
        """ARCH's target with a draft model of the same family exported alongside (fp32).

        draft="other": another random-init model (another seed), so drafts are mostly rejected;
        draft="self": the target itself, so every drafted token is accepted.
        """
        key = (arch, draft)
        if key not in self.draft_bundles:
            from edge_spec.export.exporter import ExportOptions, export_model

            if draft == "self":
                draft_dir = self.model(arch)
            else:
                draft_dir = make_model_dir(arch, self.root / "drafts" / arch, seed=1)
            out = self.root / "bundles" / f"{arch}-draft-{draft}"
            options = ExportOptions(formats=("openvino", "onnx"), weights="fp32", draft=draft_dir)
            export_model(self.model(arch), out, options)
            self.draft_bundles[key] = out
        return self.draft_bundles[key]


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> TinyZoo:
    return TinyZoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(params=ARCHITECTURES)
def arch(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["openvino", "onnxruntime"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param
