"""The static n-gram DB: its builder against a brute-force count, its file format, its CLI.

Tie-break used everywhere (builder, reference, format): per key, count descending, then token
id ascending.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import sysconfig
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from cli_process import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_models import TOKENIZER_DIR

from edge_spec.drafters import ngram_build, ngram_static
from edge_spec.drafters.ngram_build import (
    CountingBudget,
    PairCodec,
    PairCounter,
    build_static_db,
    is_heldout,
    python_stdlib_sources,
    resolve_tokenizer_json,
    select_top_k,
)
from edge_spec.drafters.ngram_static import StaticNgramDB, read_header, unpack_key, write_table
from edge_spec.errors import BundleError, EdgeSpecError

TOKENIZER_JSON = TOKENIZER_DIR / "tokenizer.json"
Reference = dict[tuple[int, ...], tuple[list[tuple[int, int]], int]]  # key -> ([(token, count)], total)


@pytest.fixture(scope="module")
def tok():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(TOKENIZER_JSON))


def _heldout_text() -> str:
    """A text whose bytes fall in the benchmark's held-out set (found by trying suffixes)."""
    for i in range(10_000):
        text = f"held_out_marker = 'zyzzyva{i}'\nheld_out_marker = 'zyzzyva{i}'\n"
        if is_heldout(text.encode()):
            return text
    raise AssertionError("no held-out text found")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A small real corpus (the stdlib's json package + text) plus files the builder must skip.

    Returns the folder and the texts that must be counted, in the builder's file order.
    """
    root = tmp_path_factory.mktemp("corpus")
    stdlib_json = Path(sysconfig.get_paths()["stdlib"]) / "json"
    (root / "json").mkdir()
    for src in sorted(stdlib_json.glob("*.py")):
        if not is_heldout(src.read_bytes()):
            shutil.copy(src, root / "json" / src.name)
    lines = [f"def handler_{i % 7}(request, value={i % 3}):\n    return request.get(value)\n" for i in range(60)]
    (root / "notes").mkdir()
    (root / "notes" / "a.txt").write_text("".join(lines), encoding="utf-8")
    (root / "notes" / "b.md").write_text("Ünïcode ✓ text, repeated. " * 40 + "\n", encoding="utf-8")
    (root / "notes" / "copy_of_a.txt").write_text("".join(lines), encoding="utf-8")  # duplicate
    (root / "notes" / "empty.txt").write_bytes(b"")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)  # binary (NUL bytes)
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1") * 10)  # not UTF-8
    (root / "heldout.py").write_text(_heldout_text(), encoding="utf-8")
    for hidden in ("__pycache__", ".git"):
        (root / hidden).mkdir()
        (root / hidden / "x.txt").write_text("never counted, never counted\n" * 5, encoding="utf-8")
    kept = []
    seen = set()
    for path in _walk_order(root):
        data = path.read_bytes()
        if not data or b"\0" in data or data in seen or is_heldout(data):
            continue
        seen.add(data)
        try:
            kept.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return root, kept


def _walk_order(root: Path) -> list[Path]:
    import os

    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".git"))
        out += [Path(folder) / f for f in sorted(files)]
    return out


def brute_force(sequences: list[list[int]], max_order: int, top_k: int, min_count: int) -> Reference:
    counts: dict[tuple[int, ...], Counter] = defaultdict(Counter)
    for ids in sequences:
        for j in range(1, len(ids)):
            for n in range(1, min(max_order, j) + 1):
                counts[tuple(ids[j - n : j])][ids[j]] += 1
    reference = {}
    for key, nexts in counts.items():
        best = sorted(((t, c) for t, c in nexts.items() if c >= min_count), key=lambda tc: (-tc[1], tc[0]))
        if best:
            reference[key] = (best[:top_k], sum(nexts.values()))
    return reference


def assert_db_equals(db: StaticNgramDB, reference: Reference) -> None:
    assert len(db) == len(reference)
    for key, (best, total) in reference.items():
        tokens, counts, db_total = db.lookup(key)
        assert list(zip(tokens.tolist(), counts.tolist())) == best, key
        assert db_total == total, key
    assert set(db.to_dict()) == set(reference)


def encode_all(tok, texts: list[str]) -> list[list[int]]:  # noqa: ANN001
    return [tok.encode(t, add_special_tokens=False).ids for t in texts]


@pytest.fixture(scope="module")
def default_db(corpus, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    out = tmp_path_factory.mktemp("db") / "corpus.esng"
    report = build_static_db(TOKENIZER_DIR, [corpus[0]], out, skip=is_heldout)
    return out, report


# ---------------------------------------------------------------- builder vs brute force


def test_default_build_matches_brute_force(default_db, corpus, tok) -> None:  # noqa: ANN001
    out, report = default_db
    sequences = encode_all(tok, corpus[1])
    with StaticNgramDB.open(out) as db:
        assert_db_equals(db, brute_force(sequences, 3, 4, 2))
    assert report.files_read == len(corpus[1])
    assert report.skipped_by_reason == {"binary": 1, "not UTF-8": 1, "duplicate": 1, "empty": 1, "skip rule": 1}
    assert report.tokens == sum(map(len, sequences))
    assert report.bytes == out.stat().st_size
    assert (report.prunes, report.max_undercount) == (0, 0)


@pytest.mark.parametrize(("max_order", "top_k", "min_count"), [(1, 1, 1), (2, 3, 1), (3, 8, 3)])
def test_other_settings_match_brute_force(corpus, tok, tmp_path: Path, max_order, top_k, min_count) -> None:  # noqa: ANN001
    out = tmp_path / "db.esng"
    build_static_db(TOKENIZER_JSON, [corpus[0]], out, max_order, top_k, min_count, skip=is_heldout)
    with StaticNgramDB.open(out) as db:
        assert (db.max_order, db.top_k) == (max_order, top_k)
        assert_db_equals(db, brute_force(encode_all(tok, corpus[1]), max_order, top_k, min_count))


def test_wide_pair_codes_give_the_same_file(corpus, default_db, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Vocabularies too big for one 64-bit pair code take the two-column path: same result."""
    monkeypatch.setattr(PairCodec, "for_vocab", classmethod(lambda cls, vocab, order, wide=None: cls(order, 0)))
    out = tmp_path / "wide.esng"
    build_static_db(TOKENIZER_DIR, [corpus[0]], out, skip=is_heldout)
    assert out.read_bytes() == default_db[0].read_bytes()


def test_skip_rule_keeps_heldout_files_out(corpus, default_db, tok, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "all.esng"
    report = build_static_db(TOKENIZER_DIR, [corpus[0]], out)  # no skip rule
    assert "skip rule" not in report.skipped_by_reason
    heldout = _heldout_text()
    with StaticNgramDB.open(out) as db:
        assert_db_equals(db, brute_force(encode_all(tok, [*corpus[1], heldout]), 3, 4, 2))
        marker = tok.encode(heldout, add_special_tokens=False).ids[5:8]
        assert db.next_tokens(marker)[0].size > 0
    with StaticNgramDB.open(default_db[0]) as db:
        assert db.next_tokens(marker)[0].size == 0


def test_is_heldout_is_the_bench_rule() -> None:
    for data in [b"", b"x", b"def f():\n    pass\n", bytes(range(200))]:
        digest = hashlib.sha1(data).hexdigest()
        assert is_heldout(data) == (int(digest[:4], 16) % 50 == 0)
    assert is_heldout(_heldout_text().encode())


# ---------------------------------------------------------------- bounded memory


def test_merges_without_pruning_give_the_same_file(corpus, default_db, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "merged.esng"
    budget = CountingBudget(chunk_chars=4096, merge_bytes=64 << 10, keep_bytes=1 << 40)
    report = build_static_db(TOKENIZER_DIR, [corpus[0]], out, skip=is_heldout, budget=budget)
    assert report.merges >= 3 and report.prunes == 0
    assert out.read_bytes() == default_db[0].read_bytes()


def test_a_file_split_across_chunks_is_counted_whole(corpus, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Long files are tokenized in pieces; pieces in different chunks still join up exactly."""
    monkeypatch.setattr(ngram_build, "PIECE_CHARS", 700)
    one_chunk, many_chunks = tmp_path / "one.esng", tmp_path / "many.esng"
    build_static_db(TOKENIZER_DIR, [corpus[0]], one_chunk, budget=CountingBudget(1 << 30, 1 << 40, 1 << 40))
    report = build_static_db(TOKENIZER_DIR, [corpus[0]], many_chunks, budget=CountingBudget(1000, 1 << 14, 1 << 40))
    assert report.merges >= 3 and report.prunes == 0
    assert one_chunk.read_bytes() == many_chunks.read_bytes()


def test_pruning_only_undercounts_within_its_bound(corpus, tok, tmp_path: Path) -> None:  # noqa: ANN001
    """With pruning (lossy counting) exact equality is impossible: a pair dropped while rare and
    seen again restarts from zero. What holds: every count is at most the true count and at
    least the true count minus the sum of the pruning thresholds (report.max_undercount), and a
    frequent key whose favourite leads by more than that bound keeps its favourite."""
    out = tmp_path / "pruned.esng"
    budget = CountingBudget(chunk_chars=2048, merge_bytes=48 << 10, keep_bytes=32 << 10)
    report = build_static_db(TOKENIZER_DIR, [corpus[0]], out, min_count=1, skip=is_heldout, budget=budget)
    assert report.prunes >= 2 and report.max_undercount >= 1
    bound = report.max_undercount
    exact = brute_force(encode_all(tok, corpus[1]), 3, 10**6, 1)
    with StaticNgramDB.open(out) as db:
        table = db.to_dict()
        assert 0 < len(table) < len(exact)
        for key, nexts in table.items():
            true = dict(exact[key][0])
            for token, count in nexts.items():
                assert true[token] - bound <= count <= true[token], (key, token)
        strong = 0
        for key, (best, _) in exact.items():
            runner_up = best[1][1] if len(best) > 1 else 0
            if best[0][1] > runner_up + bound and best[0][1] > 2 * bound:
                strong += 1
                assert db.next_tokens(key)[0][:1].tolist() == [best[0][0]], key
        assert strong > 50


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sequences=st.lists(st.lists(st.integers(0, 40), max_size=60), min_size=1, max_size=6),
    max_order=st.integers(1, 3),
    top_k=st.integers(1, 5),
    min_count=st.integers(1, 3),
    wide=st.booleans(),
    merge_pairs=st.integers(1, 200),
    cut=st.integers(0, 60),
)
def test_counter_matches_brute_force(sequences, max_order, top_k, min_count, wide, merge_pairs, cut) -> None:  # noqa: ANN001
    """Any token streams, any chunking (including one sequence cut in two with a carry), any merge rhythm."""
    codec = PairCodec.for_vocab(41, max_order, wide=wide)
    counter = PairCounter(codec, CountingBudget(1, merge_pairs * codec.pair_bytes, 1 << 40))
    for ids in sequences[1:]:
        counter.add([(np.array(ids, dtype=np.int64), 0)])
    head, tail = sequences[0][:cut], sequences[0][cut:]
    counter.add([(np.array(head, dtype=np.int64), 0)])
    carry = head[-max_order:]
    counter.add([(np.array(carry + tail, dtype=np.int64), len(carry))])
    arrays = select_top_k(codec, counter.finish(), top_k, min_count)
    got = {}
    for i, key in enumerate(arrays.keys.tolist()):
        lo, hi = arrays.offsets[i], arrays.offsets[i + 1]
        pairs = list(zip(arrays.tokens[lo:hi].tolist(), arrays.counts[lo:hi].tolist()))
        got[unpack_key(key)] = (pairs, arrays.totals[i])
    assert got == brute_force(sequences, max_order, top_k, min_count)


# ---------------------------------------------------------------- the file format


def test_header_round_trip(default_db, corpus, tok) -> None:  # noqa: ANN001
    out, report = default_db
    h = read_header(out)
    assert (h.version, h.max_order, h.top_k, h.min_count, h.vocab_size) == (1, 3, 4, 2, tok.get_vocab_size(True))
    assert (h.n_keys, h.n_entries, h.file_size) == (report.keys, report.entries, out.stat().st_size)
    assert h.corpus_tokens == report.tokens
    assert h.tokenizer_hash == hashlib.sha256(TOKENIZER_JSON.read_bytes()).hexdigest()
    with StaticNgramDB.open(out) as db:
        assert (db.max_order, db.top_k, db.vocab_size, db.tokenizer_hash) == (3, 4, h.vocab_size, h.tokenizer_hash)
        assert len(db) == h.n_keys
        db.require_tokenizer(h.tokenizer_hash.upper())
        with pytest.raises(BundleError, match="another tokenizer"):
            db.require_tokenizer("ab" * 32)


def test_next_tokens_edge_cases(default_db) -> None:  # noqa: ANN001
    with StaticNgramDB.open(default_db[0]) as db:
        key = next(iter(db.to_dict()))
        tokens, counts = db.next_tokens(np.array(key))
        assert tokens.dtype == counts.dtype == np.int64 and tokens.size > 0
        assert np.all(np.diff(counts) <= 0)
        for unseen in ([db.vocab_size - 1] * 3, [-1], [db.vocab_size], [2**40]):
            tokens, counts = db.next_tokens(unseen)
            assert tokens.size == counts.size == 0 and tokens.dtype == np.int64
        for bad in ([], [1, 2, 3, 4]):
            with pytest.raises(ValueError):
                db.next_tokens(bad)


def _mutated(src: Path, dst: Path, change) -> Path:  # noqa: ANN001
    data = bytearray(src.read_bytes())
    data = change(data) or data
    dst.write_bytes(bytes(data))
    return dst


def _flip(data: bytearray) -> None:
    data[len(data) // 2] ^= 0xFF


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d[:-5], "truncated"),
        (lambda d: d[:100], "truncated"),
        (_flip, "checksum mismatch"),
        (lambda d: b"NOTNGRAM" + d[8:], "not an edge-spec n-gram DB"),
        (lambda d: struct.pack_into("<I", d, 8, 2), "newer than this edge-spec reads"),
        (lambda d: struct.pack_into("<I", d, 24, 0), "corrupt header"),
        (lambda d: d + b"\0" * 64, "corrupt"),
    ],
    ids=["truncated", "truncated-header", "flipped-byte", "magic", "newer-version", "bad-vocab", "too-long"],
)
def test_damaged_files_are_refused(default_db, tmp_path: Path, change, needle: str) -> None:  # noqa: ANN001
    bad = _mutated(default_db[0], tmp_path / "bad.esng", change)
    with pytest.raises(BundleError) as info:
        StaticNgramDB.open(bad)
    message = str(info.value)
    assert str(bad) in message and needle in message and "\n" not in message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such n-gram DB"):
        StaticNgramDB.open(tmp_path / "nope.esng")
    with pytest.raises(BundleError, match="a directory"):
        StaticNgramDB.open(tmp_path)


@settings(max_examples=40, deadline=None)
@given(
    table=st.dictionaries(
        st.lists(st.integers(0, 60), min_size=1, max_size=3).map(tuple),
        st.dictionaries(st.integers(0, 60), st.integers(0, 10**6), min_size=1, max_size=6),
        max_size=30,
    ),
    top_k=st.integers(1, 8),
)
def test_write_table_round_trip(table, top_k: int) -> None:  # noqa: ANN001
    """The model tier's path: a Python dict table in, the same top-k table out."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.esng"
        write_table(path, table, max_order=3, top_k=top_k, vocab_size=0, tokenizer_hash="")
        with StaticNgramDB.open(path) as db:
            expected = {}
            for key, nexts in table.items():
                best = sorted(((t, c) for t, c in nexts.items() if c > 0), key=lambda tc: (-tc[1], tc[0]))[:top_k]
                if best:
                    expected[key] = best
                    assert db.lookup(key)[2] == sum(nexts.values())
            stored = {k: sorted(v.items()) for k, v in db.to_dict().items()}
            assert stored == {k: sorted(v) for k, v in expected.items()}
            for key, best in expected.items():
                assert list(zip(*(a.tolist() for a in db.next_tokens(key)))) == best
            assert db.tokenizer_hash == ""


# ---------------------------------------------------------------- atomic writes, inputs


def test_failed_write_leaves_nothing(corpus, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    out = tmp_path / "db.esng"
    out.write_bytes(b"the previous DB")

    def broken(f, header, arrays):  # noqa: ANN001, ANN202
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ngram_static, "write_static_db", broken)
    with pytest.raises(EdgeSpecError, match="No space left"):
        build_static_db(TOKENIZER_DIR, [corpus[0] / "notes"], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.esng"]
    assert out.read_bytes() == b"the previous DB"


def test_gzip_files_count_as_their_text(corpus, tmp_path: Path) -> None:  # noqa: ANN001
    """A .gz corpus file is counted as the text it holds: the same DB as the plain file; a damaged
    one is skipped and counted by reason, like a binary file."""
    import gzip

    text = (corpus[0] / "notes" / "a.txt").read_bytes()
    plain_dir, packed_dir = tmp_path / "plain", tmp_path / "packed"
    plain_dir.mkdir()
    packed_dir.mkdir()
    (plain_dir / "a.txt").write_bytes(text)
    (packed_dir / "a.txt.gz").write_bytes(gzip.compress(text))
    (packed_dir / "b.txt.gz").write_bytes(gzip.compress(text)[:40])  # cut short
    (packed_dir / "c.txt.gz").write_bytes(b"not gzip at all\n")
    build_static_db(TOKENIZER_DIR, [plain_dir], tmp_path / "plain.esng")
    report = build_static_db(TOKENIZER_DIR, [packed_dir], tmp_path / "packed.esng")
    assert report.files_read == 1 and report.skipped_by_reason == {"damaged gzip": 2}
    with StaticNgramDB.open(tmp_path / "plain.esng") as plain, StaticNgramDB.open(tmp_path / "packed.esng") as packed:
        assert len(plain) > 0 and plain.to_dict() == packed.to_dict()


def test_interrupt_leaves_nothing(corpus, tmp_path: Path) -> None:  # noqa: ANN001
    def interrupt(progress) -> None:  # noqa: ANN001
        if progress.files_done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_static_db(TOKENIZER_DIR, [corpus[0]], tmp_path / "db.esng", progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs(corpus, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(EdgeSpecError, match="nope"):
        build_static_db(TOKENIZER_DIR, [tmp_path / "nope"], tmp_path / "db.esng")
    with pytest.raises(BundleError, match="no such bundle"):
        build_static_db(tmp_path / "missing-bundle", [corpus[0]], tmp_path / "db.esng")
    with pytest.raises(ValueError, match="max_order"):
        build_static_db(TOKENIZER_DIR, [corpus[0]], tmp_path / "db.esng", max_order=4)
    with pytest.raises(EdgeSpecError, match="a directory"):
        build_static_db(TOKENIZER_DIR, [corpus[0]], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bundle_tokenizer_is_found_and_checked(tmp_path: Path) -> None:
    from edge_spec.bundle import Manifest, TargetSpec, file_entry

    bundle = tmp_path / "my.bundle"
    (bundle / "tokenizer").mkdir(parents=True)
    shutil.copy(TOKENIZER_JSON, bundle / "tokenizer" / "tokenizer.json")
    target = TargetSpec("llama", 1, 1, 8, 8, 49152, 64, None, None)
    files = {"tokenizer/tokenizer.json": file_entry(bundle / "tokenizer" / "tokenizer.json")}
    manifest = Manifest(1, "0.1.0", {}, {"dir": "tokenizer", "files": ["tokenizer.json"]}, target, files)
    (bundle / "edge_spec.json").write_text(manifest.to_json())
    assert resolve_tokenizer_json(bundle) == bundle / "tokenizer" / "tokenizer.json"
    assert resolve_tokenizer_json(TOKENIZER_DIR) == TOKENIZER_JSON
    assert resolve_tokenizer_json(TOKENIZER_JSON) == TOKENIZER_JSON
    with open(bundle / "tokenizer" / "tokenizer.json", "a") as f:
        f.write(" ")
    with pytest.raises(BundleError, match="checksum mismatch"):
        resolve_tokenizer_json(bundle)


def test_python_stdlib_sources_leave_out_site_packages() -> None:
    sources = python_stdlib_sources()
    names = {p.name for p in sources}
    assert "json" in names and "os.py" in names
    assert not names & {"site-packages", "dist-packages"}


# ---------------------------------------------------------------- the CLI


def _one_line_error(proc) -> str:  # noqa: ANN001
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def test_cli_build_and_info(corpus, default_db, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "cli.esng"
    proc = run_cli("ngram", "build", str(TOKENIZER_DIR), str(corpus[0]), "-o", str(out), "--memory-mb", "64")
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert "n-gram DB written" in stderr and "keys" in stderr and "1 skip rule" in stderr
    assert out.read_bytes() == default_db[0].read_bytes()  # --skip-heldout is the default
    proc = run_cli("ngram", "info", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    info = proc.stdout.decode()
    assert "max order:" in info and f"{default_db[1].keys:,}" in info
    assert hashlib.sha256(TOKENIZER_JSON.read_bytes()).hexdigest() in info


def test_cli_no_skip_heldout_and_errors(corpus, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "all.esng"
    proc = run_cli(
        "ngram", "build", str(TOKENIZER_JSON), str(corpus[0] / "heldout.py"), "-o", str(out), "--no-skip-heldout",
        "--min-count", "1", "--max-order", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert read_header(out).max_order == 2 and read_header(out).n_keys > 0
    assert "no corpus" in _one_line_error(run_cli("ngram", "build", str(TOKENIZER_DIR), "-o", str(tmp_path / "x")))
    bad = _mutated(out, tmp_path / "bad.esng", _flip)
    assert str(bad) in _one_line_error(run_cli("ngram", "info", str(bad)))
    assert not (tmp_path / "x").exists()
    assert "50 == 0" in run_cli("ngram", "build", "--help").stdout.decode()
