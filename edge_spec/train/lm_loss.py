"""Next-token loss through the LM head without materialising the [tokens, vocab] logits.

With a 49152-token vocabulary the head is most of a small draft's work, and the plain path
(logits, log_softmax, its backward, a zero-filled gradient) streams four [tokens, vocab] f32
tensors through memory. Here the head and the cross-entropy run in chunks of rows and the
gradients for the hidden states and the head weight are computed in the same pass (softmax minus
one-hot, two matmuls), so only a chunk of logits exists at a time. Same loss and gradients as
F.cross_entropy(hidden @ weight.T, targets) up to float rounding.

Models whose logits are not a plain product with the (output) embedding (Gemma-2's soft-capping,
a head with bias, a logit scale) go through the model's own forward instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

IGNORE = -100
CHUNK_ROWS = 256


class _ChunkedHeadCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int):  # noqa: ANN001, ANN205
        count = max(hidden.shape[0], 1)
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float64)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        grad_weight = torch.zeros_like(weight) if need_grad else None
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk]
            t = targets[start : start + chunk]
            logits = h @ weight.T
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, t[:, None])[:, 0]
            total += (lse - picked).sum(dtype=torch.float64)
            if need_grad:
                probs = logits.sub_(lse[:, None]).exp_()
                probs[torch.arange(len(t)), t] -= 1.0
                grad_hidden[start : start + chunk] = probs @ weight
                grad_weight.addmm_(probs.T, h)
        if need_grad:
            grad_hidden /= count
            grad_weight /= count
            ctx.save_for_backward(grad_hidden, grad_weight)
        return (total / count).to(hidden.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # noqa: ANN001, ANN205
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None


def fused_head_supported(model: Any) -> bool:
    """Are MODEL's logits exactly hidden_states @ output_embedding.T?"""
    config = model.config
    head = model.get_output_embeddings()
    return (
        head is not None
        and getattr(head, "bias", None) is None
        and not getattr(config, "final_logit_softcapping", None)
        and getattr(config, "logit_scale", None) in (None, 1.0)
        and getattr(config, "logits_scaling", None) in (None, 1.0)
    )


def next_token_loss(model: Any, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of MODEL predicting LABELS [B, T] (IGNORE where not scored) from INPUT_IDS.

    LABELS are aligned with INPUT_IDS already shifted: labels[:, t] is the token after
    input_ids[:, t]. Returns (loss, number of scored tokens). Right padding needs no attention
    mask: causal attention never lets a real token see the padding after it.
    """
    mask = labels != IGNORE
    scored = int(mask.sum())
    if scored == 0:
        return torch.zeros((), requires_grad=True), 0
    if fused_head_supported(model):
        hidden = model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
        rows = hidden[mask]
        weight = model.get_output_embeddings().weight
        return _ChunkedHeadCrossEntropy.apply(rows, weight, labels[mask], CHUNK_ROWS), scored
    logits = model(input_ids=input_ids, use_cache=False).logits
    return F.cross_entropy(logits[mask].float(), labels[mask]), scored


@torch.no_grad()
def greedy_predictions(model: Any, input_ids: torch.Tensor, never: int | None = None) -> torch.Tensor:
    """MODEL's argmax next token at every position of INPUT_IDS [1, T] -> [T].

    NEVER is an id the argmax skips: a reduced-vocabulary draft's 'other' slot, which the runtime
    never proposes, so acceptance is measured on what the draft would actually propose.
    """

    def argmax(logits: torch.Tensor) -> torch.Tensor:
        if never is not None:
            logits[:, never] = -torch.inf
        return logits.argmax(-1)

    if fused_head_supported(model):
        hidden = model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state[0]
        weight = model.get_output_embeddings().weight
        return torch.cat([argmax(h @ weight.T) for h in hidden.split(CHUNK_ROWS)])
    return argmax(model(input_ids=input_ids, use_cache=False).logits[0].float())
