"""The exported bundle: a directory with a versioned manifest and the files it names.

A bundle is written to a temporary sibling directory and renamed into place at the end, so an
interrupted export never leaves a half bundle. Loading checks the manifest and every file it
names (size, and sha256 once per file change) before anything is compiled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_spec.errors import BundleError

MANIFEST = "edge_spec.json"
SCHEMA_VERSION = 1
_HASH_CHUNK = 1 << 22


@dataclass
class TargetSpec:
    """What the runtime needs to know about the target's graph."""

    architecture: str
    num_layers: int
    kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    max_positions: int
    early_layer: int | None
    sliding_window: int | None
    # format name -> {"path": model file, "weights": "int8", "inputs": [...], "outputs": [...],
    # "stateful": bool (OpenVINO keeps the KV cache as plugin state)}
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Manifest:
    """edge_spec.json, schema version 1."""

    schema_version: int
    edge_spec_version: str
    source: dict[str, Any]
    tokenizer: dict[str, Any]
    target: TargetSpec
    files: dict[str, dict[str, Any]]
    drafters: list[dict[str, Any]] = field(default_factory=list)
    ngram_dbs: list[dict[str, Any]] = field(default_factory=list)

    def files_digest(self) -> str:
        """A short hash of every file's checksum: names this exact export (for caches)."""
        joined = "".join(f"{rel}:{entry['sha256']}" for rel, entry in sorted(self.files.items()))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: Path) -> Manifest:
        try:
            data = dict(raw)
            data["target"] = TargetSpec(**data["target"])
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{where}: manifest is missing or has unknown fields ({exc}); re-export") from None


def file_entry(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(bundle: str | Path, verify: bool = True) -> tuple[Path, Manifest]:
    """Read and validate a bundle's manifest; with verify, check every file it names."""
    root = Path(bundle).expanduser()
    if not root.exists():
        raise BundleError(f"{root}: no such bundle; create one with `edge-spec export MODEL -o {root}`")
    if not root.is_dir():
        raise BundleError(f"{root}: a bundle is a directory (made by `edge-spec export`)")
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root}: not an edge-spec bundle (no {MANIFEST}); make one with `edge-spec export`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: corrupt manifest ({exc}); re-export the bundle") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("schema_version"), int):
        raise BundleError(f"{path}: no schema_version; not an edge-spec manifest")
    if raw["schema_version"] > SCHEMA_VERSION:
        raise BundleError(
            f"{path}: schema version {raw['schema_version']} is newer than this edge-spec reads "
            f"({SCHEMA_VERSION}); upgrade edge-spec"
        )
    manifest = Manifest.from_dict(raw, path)
    if verify:
        verify_files(root, manifest)
    return root, manifest


def verify_files(root: Path, manifest: Manifest) -> None:
    """Every named file present, of the recorded size and (once per change) the recorded hash."""
    stamps = _VerifiedStamps(root)
    for rel, entry in manifest.files.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle; re-export it")
        stat = path.stat()
        if stat.st_size != entry["size"]:
            raise BundleError(f"{path}: corrupt (size {stat.st_size}, expected {entry['size']}); re-export the bundle")
        if stamps.is_verified(rel, stat):
            continue
        if sha256_of(path) != entry["sha256"]:
            raise BundleError(f"{path}: corrupt (checksum mismatch); re-export the bundle")
        stamps.mark(rel, stat)
    stamps.save()


class _VerifiedStamps:
    """Remembers which files were hashed at which (size, mtime), so loads stay fast.

    Kept in the user's cache, keyed by the bundle's path; deleting it only costs a re-hash.
    """

    def __init__(self, root: Path):
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        self.path = cache_dir() / "verified" / f"{key}.json"
        try:
            self.stamps = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.stamps = {}
        self.dirty = False

    @staticmethod
    def _stamp(stat: os.stat_result) -> list[int]:
        return [stat.st_size, stat.st_mtime_ns]

    def is_verified(self, rel: str, stat: os.stat_result) -> bool:
        return self.stamps.get(rel) == self._stamp(stat)

    def mark(self, rel: str, stat: os.stat_result) -> None:
        self.stamps[rel] = self._stamp(stat)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.stamps))


def cache_dir() -> Path:
    """edge-spec's cache (compiled-model cache, calibrations, verified stamps)."""
    base = os.environ.get("EDGE_SPEC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "edge-spec"
    )
    return Path(base)


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_directory(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `final`; rename it to `final` only if the block succeeds."""
    final = final.expanduser().resolve()
    if final.exists() and not overwrite:
        raise BundleError(f"{final}: already exists; choose another -o or pass --overwrite")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
