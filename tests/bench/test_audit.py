"""The token-identity audit: exact mode tolerates nothing; fast numerics only near-ties."""

from __future__ import annotations

import pytest

from edge_spec.bench.audit import (
    IDENTICAL,
    MISMATCH,
    NEAR_TIE,
    audit_tokens,
    first_difference,
    near_tie_tolerance,
)


def test_near_tie_tolerance() -> None:
    assert near_tie_tolerance("exact", 20.0) == 0.0
    # bf16-ish default numerics: relative to the top-1 logit, plus the KV-cache floor
    assert near_tie_tolerance("default", 20.0, "fp16") == pytest.approx(20.0 * 2**-6 + 1 / 8)
    assert near_tie_tolerance("default", -20.0, "fp16") == near_tie_tolerance("default", 20.0, "fp16")
    # f32 compute is tighter than bf16; int8/int4 weights (dynamic quantization) raise the floor
    assert near_tie_tolerance("f32", 20.0, "fp16") < near_tie_tolerance("default", 20.0, "fp16")
    assert near_tie_tolerance("f32", 20.0, "int8") > near_tie_tolerance("f32", 20.0, "fp16")
    assert near_tie_tolerance("f32", 0.0, "int4") == 1.0
    # the largest margin moves measured on the bench target (audit.py docstring) fit inside
    # (a move of 0.23 came at a top-1 logit >= 25.4, one of 0.5 at >= 28.9)
    assert near_tie_tolerance("f32", 25.4, "fp16") > 0.23
    assert near_tie_tolerance("default", 28.9, "fp16") > 0.5
    assert near_tie_tolerance("f32", 0.0, "int8") > 0.88
    # an unknown numerics string is treated as the loosest (bf16-class) rounding
    assert near_tie_tolerance("bf16", 20.0) == near_tie_tolerance("default", 20.0)


def test_first_difference() -> None:
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 5, 3]) == 1
    assert first_difference([1, 2, 3], [1, 2]) == 2
    assert first_difference([], []) is None


def test_audit_tokens() -> None:
    plain, margins, top1 = [5, 6, 7, 8], [3.0, 0.05, 2.0, 4.0], [20.0, 18.0, 19.0, 21.0]
    assert audit_tokens(plain, [5, 6, 7, 8], margins, top1, "exact").status == IDENTICAL
    # exact mode: any difference is a mismatch, even at a near-tie
    exact = audit_tokens(plain, [5, 9, 7, 8], margins, top1, "exact")
    assert (exact.status, exact.first_diff, exact.margin) == (MISMATCH, 1, 0.05)
    # fast numerics: a flip where plain's top two were 0.05 apart is a near-tie ...
    tie = audit_tokens(plain, [5, 9, 1, 1], margins, top1, "default", "fp16")
    assert (tie.status, tie.first_diff) == (NEAR_TIE, 1) and tie.tolerance > tie.margin
    # ... one where they were 2 logits apart is not
    assert audit_tokens(plain, [5, 6, 1, 1], margins, top1, "default", "fp16").status == MISMATCH
    # no margins recorded, or output past plain's end: cannot be shown to be a near-tie
    assert audit_tokens(plain, [5, 9, 7, 8], None, None, "default").status == MISMATCH
    assert audit_tokens(plain, [5, 6, 7, 8, 9], margins, top1, "default").status == MISMATCH
