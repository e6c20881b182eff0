"""Drafters propose candidate tokens for the target to verify (n-gram tiers, draft model, ...).

Each drafter is numpy-only and backend-agnostic (base.py has the protocol). `make_drafter`
builds one by name for a bundle: "none" is plain decoding, "ngram" the Hierarchy-Drafting n-gram
tiers, "auto" the best the bundle offers (today: the n-gram tiers).
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge_spec.drafters.base import Drafter, NoDrafter
from edge_spec.errors import EdgeSpecError

log = logging.getLogger(__name__)

DRAFTERS = ("none", "ngram", "auto")
STATIC_DB = Path("ngram") / "static.esng"


def make_drafter(
    name: str,
    root: Path,
    manifest,  # noqa: ANN001
    static_db: str | Path | None = None,
    model_db: str | Path | None = "auto",
    learn: bool = True,
) -> Drafter:
    """The drafter NAME for the bundle at ROOT (see Pipeline.load for the database options)."""
    if name not in DRAFTERS:
        raise EdgeSpecError(f"drafter {name!r} is unknown; choose from {', '.join(DRAFTERS)}")
    if name == "none":
        return NoDrafter()
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
