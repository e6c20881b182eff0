"""Greedy decoding through our runtime equals transformers' generate(do_sample=False)."""

from __future__ import annotations

import torch
from tiny_models import load_torch

from edge_spec import Pipeline

PROMPTS = ["def fibonacci(n):\n    ", "The capital of France is", "<|im_start|>user\nHi!<|im_end|>\n"]


def test_greedy_equals_transformers(zoo, arch, backend) -> None:  # noqa: ANN001
    model = load_torch(zoo.model(arch))
    pipe = Pipeline.load(zoo.bundle(arch), backend=backend, exact=True)
    for prompt in PROMPTS:
        ids = pipe.encode(prompt)
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=32,
                do_sample=False,
                eos_token_id=2,
                pad_token_id=2,
            )
        want = out[0, len(ids) :].tolist()
        got = pipe.generate(ids, max_new_tokens=32)
        assert got.tokens == want, f"{arch}/{backend} diverged on {prompt!r}"
        assert got.stats.new_tokens == len(want)
        assert got.stats.target_forwards == len(want)  # plain decoding: one forward per token
