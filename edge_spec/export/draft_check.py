"""Is a draft model's tokenizer the target's? Checked on the vocabularies themselves.

vocab_size is no test: same-tokenizer pairs often pad their embedding tables differently
(SmolLM2-135M pads to 49152, a draft may not). What must agree is every token's id and the
special tokens; the draft's logits are then sliced to the shared vocabulary at run time.
"""

from __future__ import annotations

from pathlib import Path

from edge_spec.errors import ExportError

_SPECIAL = ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id")


def check_draft_tokenizer(target_dir: Path, draft_dir: Path) -> int:
    """The size of the vocabulary both share; one-line ExportError saying what differs otherwise."""
    target_tok, draft_tok = _load(target_dir), _load(draft_dir)
    target_vocab, draft_vocab = target_tok.get_vocab(), draft_tok.get_vocab()
    if target_vocab != draft_vocab:
        differ = sorted(
            (t for t in set(target_vocab) | set(draft_vocab) if target_vocab.get(t) != draft_vocab.get(t)),
            key=lambda t: min(target_vocab.get(t, 1 << 30), draft_vocab.get(t, 1 << 30)),
        )
        first = differ[0]
        raise ExportError(
            f"{draft_dir}: its tokenizer is not the target's ({len(differ)} tokens differ, e.g. {first!r}: "
            f"id {target_vocab.get(first)} in the target, {draft_vocab.get(first)} in the draft); "
            "a draft model must use the target's tokenizer"
        )
    for name in _SPECIAL:
        ours, theirs = getattr(target_tok, name, None), getattr(draft_tok, name, None)
        if ours is not None and theirs is not None and ours != theirs:
            raise ExportError(
                f"{draft_dir}: {name} is {theirs} in the draft but {ours} in the target; "
                "give the draft the target's special tokens"
            )
    return len(target_vocab)


def _load(directory: Path):  # noqa: ANN202
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{directory}: its tokenizer cannot be loaded ({exc})") from None
