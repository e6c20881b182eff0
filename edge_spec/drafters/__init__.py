"""Drafters propose candidate tokens for the target to verify (n-gram tiers, draft model, ...).

Each drafter is numpy-only and backend-agnostic (base.py has the protocol). `make_drafter`
builds one by name for a bundle: "none" is plain decoding, "ngram" the Hierarchy-Drafting n-gram
tiers, "draft" the bundle's draft model, "auto" the best the bundle offers (its draft model with
the n-gram tiers proposing for it, or the n-gram tiers alone when it has no draft model).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from edge_spec.drafters.base import Drafter, NoDrafter
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

DRAFTERS = ("none", "ngram", "draft", "auto")


@dataclass(frozen=True)
class DraftRuntime:
    """Where a draft model runs (it may be another device than the target's)."""

    backend: str = "openvino"
    device: str = "CPU"
    numerics: str = "auto"


STATIC_DB = Path("ngram") / "static.esng"


def make_drafter(
    name: str,
    root: Path,
    manifest,  # noqa: ANN001
    static_db: str | Path | None = None,
    model_db: str | Path | None = "auto",
    learn: bool = True,
    runtime: DraftRuntime | None = None,
) -> Drafter:
    """The drafter NAME for the bundle at ROOT (see Pipeline.load for the options)."""
    if name not in DRAFTERS:
        raise EdgeSpecError(f"drafter {name!r} is unknown; choose from {', '.join(DRAFTERS)}")
    if name == "none":
        return NoDrafter()
    draft_entry = next((d for d in manifest.drafters if d.get("kind") == "draft_model"), None)
    if name == "draft" and draft_entry is None:
        raise EdgeSpecError(
            f"{root}: this bundle has no draft model; export one with `edge-spec export MODEL --draft DRAFT_DIR`, "
            "or use --drafter ngram"
        )
    ngram = None
    if name != "draft":
        ngram = _ngram_drafter(root, manifest, static_db, model_db, learn)
        if name == "ngram" or draft_entry is None:
            return ngram
    return _draft_model_drafter(root, manifest, draft_entry, runtime or DraftRuntime(), ngram)


def _draft_model_drafter(root: Path, manifest, entry: dict, runtime: DraftRuntime, ngram: Drafter | None) -> Drafter:  # noqa: ANN001
    from edge_spec.bundle import TargetSpec
    from edge_spec.drafters.draft_model import DraftModelDrafter
    from edge_spec.runtimes import open_target

    try:
        spec = TargetSpec(**entry["spec"])
        shared = int(entry["shared_vocab"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgeSpecError(f"{root}: the manifest's draft model entry is damaged ({exc}); re-export") from None
    vocab = None
    if entry.get("vocab"):  # a reduced-vocabulary draft (FR-Spec): its ids are mapped in and out
        from edge_spec.drafters.draft_vocab import DraftVocabulary

        vocab = DraftVocabulary.load(root / entry["vocab"], spec.vocab_size, shared)
    session = open_target(root, manifest, runtime.backend, runtime.device, runtime.numerics, spec=spec)
    log.info("draft model %s on %s/%s (%s)", spec.architecture, runtime.backend, runtime.device, session.numerics)
    return DraftModelDrafter(session, shared_vocab=shared, ngram=ngram, vocab=vocab)


def _ngram_drafter(root: Path, manifest, static_db, model_db, learn: bool) -> Drafter:  # noqa: ANN001
    from edge_spec.drafters.ngram import NgramDrafter
    from edge_spec.drafters.ngram_model import ModelNgramDB, default_model_db_path

    tokenizer_hash = manifest.files.get(f"{manifest.tokenizer['dir']}/tokenizer.json", {}).get("sha256", "")
    static = None
    path = Path(static_db).expanduser() if static_db is not None else root / STATIC_DB
    if static_db is not None or path.is_file():
        from edge_spec.drafters.ngram_static import StaticNgramDB

        static = StaticNgramDB.open(path)
        static.require_tokenizer(tokenizer_hash)
        log.info("static n-gram DB %s: %d keys", path, len(static))
    model = None
    if model_db is not None:
        where = default_model_db_path(root, manifest) if model_db == "auto" else Path(model_db).expanduser()
        model = ModelNgramDB.open(
            where, writable=learn, vocab_size=manifest.target.vocab_size, tokenizer_hash=tokenizer_hash
        )
    return NgramDrafter(model_db=model, static_db=static, learner=model if learn else None)
