"""Session fixtures of the FastDraft tests: the tiny target, the tiny corpus, one full run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_fastdraft import make_corpus, make_tiny_target, small_config


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_target(tmp_path_factory.mktemp("fastdraft") / "target")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("fastdraft") / "corpus")


@pytest.fixture(scope="session")
def full_run(tiny_target: Path, tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An uninterrupted run of the small config (the reference of the resume test)."""
    from edge_spec.train import train_fastdraft

    out = tmp_path_factory.mktemp("fastdraft") / "draft"
    return train_fastdraft(small_config(tiny_target, tiny_corpus, out))
