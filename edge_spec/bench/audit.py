"""Token identity against plain decoding, and the near-tie audit of every divergence.

DESIGN.md, "Numerics": in exact mode (f32 compute, f32 KV cache, no dynamic quantization) a
speculative mode must emit plain decoding's tokens exactly, so any difference is a mismatch, a
bug. In the fast numerics, verifying T tokens in one pass runs other kernels than decoding one
token, so a near-tie may flip: a divergence is a near-tie only if, at the first differing
position, plain decoding's top-two logits were closer than the precision's rounding can move
them. Everything else is a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IDENTICAL, NEAR_TIE, MISMATCH = "identical", "near_tie", "mismatch"

# Per session numerics (result.stats.numerics: OpenVINO sets "exact", "default" or "f32", ONNX
# Runtime "exact" or "f32"): (relative part of |top-1 logit|, absolute floor). See near_tie_tolerance.
_ROUNDING = {"exact": (0.0, 0.0), "f32": (2.0**-7, 1 / 16), "default": (2.0**-6, 1 / 8)}
_QUANTIZED_WEIGHTS = ("int8", "int4")
_QUANTIZED_FLOOR = 1.0


def near_tie_tolerance(numerics: str, top1_logit: float, weights: str = "") -> float:
    """How far apart plain's top-two logits may be for a flip to still count as rounding.

    tolerance = relative * |top-1 logit| + floor. Why these numbers: measured with
    benchmarks/near_tie_calibration.py on the bench target (SmolLM2-135M, OpenVINO 2026.4 CPU
    with AVX512-bf16, no AMX; 20 code prompts x 63 positions, verify passes of 8 tokens), the
    largest move of the top-two margin between a one-token decode step and the verify pass was:

    * "exact" (f32, f32 KV cache, no dynamic quantization): 5e-5. Tolerance 0: in exact mode
      any difference is a mismatch, as DESIGN.md promises.
    * "f32" hint, fp16 weights: 0.23 (at most 0.9% of |top-1|; OpenVINO still keeps the KV
      cache in u8/f16 outside exact mode). Tolerance 2**-7 of |top-1| + 1/16.
    * "default" (bf16 compute on this CPU), fp16 weights: 0.5 (at most 1.7% of |top-1|, a few
      bf16 ulps: bf16's ulp is 2**-8..2**-7 of the value). Tolerance 2**-6 of |top-1| + 1/8;
      unknown numerics strings get this one too.
    * int8 weights: 0.88 at "f32", 0.63 at "default" (dynamic int8 quantization of the
      activations). With int8/int4 weights the floor is 1 logit.

    At the typical top-1 logit of 32 that is 0.31 (f32), 0.63 (default), 1.25 (f32, int8) and
    1.5 (default, int8): no move measured was larger. The price of a loose tolerance is that a
    bug flipping a close call passes as a near-tie; exact mode is where bugs are caught.
    """
    relative, floor = _ROUNDING.get(numerics, _ROUNDING["default"])
    if numerics == "exact":
        return 0.0
    if weights in _QUANTIZED_WEIGHTS:
        floor = _QUANTIZED_FLOOR
    return relative * abs(top1_logit) + floor


@dataclass(frozen=True)
class Verdict:
    """One output against plain decoding's for the same prompt.

    first_diff: index of the first differing token (None when identical); margin / tolerance:
    plain's top-two margin there and the near-tie tolerance it was held to (None if unknown).
    """

    status: str
    first_diff: int | None = None
    margin: float | None = None
    tolerance: float | None = None

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "first_diff": self.first_diff,
            "margin": self.margin,
            "tolerance": self.tolerance,
        }


def first_difference(reference: Sequence[int], tokens: Sequence[int]) -> int | None:
    """The first index where the two token lists differ (a length difference counts), or None."""
    for i, (a, b) in enumerate(zip(reference, tokens)):
        if a != b:
            return i
    return None if len(reference) == len(tokens) else min(len(reference), len(tokens))


def audit_tokens(
    plain_tokens: Sequence[int],
    tokens: Sequence[int],
    margins: Sequence[float] | None,
    top1_logits: Sequence[float] | None,
    numerics: str,
    weights: str = "",
) -> Verdict:
    """Judge TOKENS against PLAIN_TOKENS, using plain's per-position margins and top-1 logits.

    Without plain's margin at the first difference (a longer output, or none recorded) a
    divergence cannot be shown to be a near-tie, so it is a mismatch. Without top-1 logits only
    the absolute floor applies.
    """
    diff = first_difference(plain_tokens, tokens)
    if diff is None:
        return Verdict(IDENTICAL)
    if numerics == "exact":
        margin = margins[diff] if margins is not None and diff < len(margins) else None
        return Verdict(MISMATCH, diff, margin, 0.0)
    if margins is None or diff >= len(margins) or diff >= len(tokens):
        return Verdict(MISMATCH, diff)
    top1 = top1_logits[diff] if top1_logits is not None and diff < len(top1_logits) else 0.0
    tolerance = near_tie_tolerance(numerics, top1, weights)
    margin = float(margins[diff])
    return Verdict(NEAR_TIE if margin <= tolerance else MISMATCH, diff, margin, tolerance)
