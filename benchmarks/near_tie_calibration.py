"""How far the fast numerics move the top-two margin between decoding and verifying: the data
behind edge_spec/bench/audit.py's near_tie_tolerance.

For each prompt, plain greedy decoding (one token per forward) records the logits of every step;
then the same tokens are fed back in chunks of --chunk tokens per forward, as a speculative
verify pass that accepts everything would. At every position, with a and b plain's top-two
tokens, the shift is (l_a - l_b) in the decode step minus the same in the verify pass: a flip
needs plain's margin to be smaller than that shift. Prints the largest shifts per numerics,
absolute and relative to |l_a|, next to what near_tie_tolerance allows.

    python benchmarks/near_tie_calibration.py BUNDLE [BUNDLE...] --limit 10 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from edge_spec.bench.audit import near_tie_tolerance
from edge_spec.bench.prompts import load_prompts
from edge_spec.bench.runner import bundle_weights
from edge_spec.pipeline import Pipeline

SHARED = Path(os.environ.get("EDGE_SPEC_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def decode_logits(session, prompt: list[int], steps: int) -> tuple[list[int], np.ndarray]:  # noqa: ANN001
    session.reset()
    session.reserve(len(prompt) + steps + 1)
    rows, tokens = [], []
    logits = session.forward(np.asarray(prompt), logit_rows=np.array([len(prompt) - 1])).logits[-1]
    for _ in range(steps):
        rows.append(np.array(logits, dtype=np.float32))
        tokens.append(int(np.argmax(logits)))
        logits = session.forward(np.asarray([tokens[-1]])).logits[-1]
    session.commit()
    return tokens, np.stack(rows)


def verify_logits(session, prompt: list[int], tokens: list[int], chunk: int) -> np.ndarray:  # noqa: ANN001
    """Logits predicting tokens[1:], fed CHUNK tokens per forward after the prompt."""
    session.reset()
    session.reserve(len(prompt) + len(tokens) + 1)
    session.forward(np.asarray(prompt), logit_rows=np.array([len(prompt) - 1]))
    rows = []
    for start in range(0, len(tokens) - 1, chunk):
        piece = tokens[start : min(start + chunk, len(tokens) - 1)]
        rows.append(session.forward(np.asarray(piece)).logits)
    session.commit()
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--prompts", type=Path, default=SHARED / "bench" / "prompts" / "code.jsonl")
    parser.add_argument("--limit", type=int, default=5, help="prompts per category")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--numerics", default="default,f32,exact")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, args.limit)
    report = []
    for bundle in args.bundles:
        for numerics in args.numerics.split(","):
            exact = numerics == "exact"
            pipe = Pipeline.load(bundle, exact=exact, numerics="auto" if exact else numerics)
            weights = bundle_weights(pipe.manifest, "openvino")
            shifts, top1s, margins = [], [], []
            for prompt in prompts:
                ids = pipe.encode(prompt.as_input())
                tokens, plain = decode_logits(pipe.session, ids, args.max_new_tokens)
                verify = verify_logits(pipe.session, ids, tokens, args.chunk)
                plain = plain[1:]  # step 0 is the prefill, the same computation in both
                order = np.argsort(plain, axis=1)
                a, b = order[:, -1], order[:, -2]
                idx = np.arange(len(a))
                plain_margin = plain[idx, a] - plain[idx, b]
                verify_margin = verify[idx, a] - verify[idx, b]
                shifts.append(np.abs(plain_margin - verify_margin))
                top1s.append(np.abs(plain[idx, a]))
                margins.append(plain_margin)
            shift, top1 = np.concatenate(shifts), np.concatenate(top1s)
            rel = shift / np.maximum(top1, 1e-6)
            allowed = np.array([near_tie_tolerance(pipe.session.numerics, t, weights) for t in top1])
            row = {
                "bundle": bundle.name,
                "weights": weights,
                "numerics": pipe.session.numerics,
                "positions": int(shift.size),
                "shift_max": float(shift.max()),
                "shift_p99": float(np.quantile(shift, 0.99)),
                "shift_median": float(np.median(shift)),
                "relative_shift_max": float(rel.max()),
                "top1_median": float(np.median(top1)),
                "tolerance_median": float(np.median(allowed)),
                "shifts_beyond_tolerance": int((shift > allowed).sum()),
                "margins_below_tolerance": int((np.concatenate(margins) <= allowed).sum()),
            }
            report.append(row)
            print(json.dumps(row))


if __name__ == "__main__":
    main()
