"""Incremental detokenization: text appears as tokens are accepted, never half a character."""

from __future__ import annotations

from collections.abc import Callable, Sequence


class TextStream:
    """Turns a growing token list into text deltas.

    Decoding the whole list each time would be O(n^2); decoding from a moving offset keeps it
    linear while letting byte-level BPE merge across token boundaries. A delta that ends in an
    incomplete UTF-8 sequence (U+FFFD) is held back until the next token completes it.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]):
        self.decode = decode
        self.tokens: list[int] = []
        self.prefix_offset = 0  # tokens before this are settled
        self.read_offset = 0  # text of tokens[prefix_offset:read_offset] already emitted
        self.text = ""

    def push(self, tokens: Sequence[int]) -> str:
        """Add tokens; return the new text that can be shown now."""
        self.tokens.extend(tokens)
        prefix = self.decode(self.tokens[self.prefix_offset : self.read_offset])
        full = self.decode(self.tokens[self.prefix_offset :])
        if full.endswith("\ufffd") or len(full) <= len(prefix):
            return ""
        delta = full[len(prefix) :]
        self.prefix_offset = self.read_offset
        self.read_offset = len(self.tokens)
        self.text += delta
        return delta

    def flush(self) -> str:
        """Whatever is left at the end (a dangling partial character becomes U+FFFD)."""
        full = self.decode(self.tokens[self.prefix_offset :])
        prefix = self.decode(self.tokens[self.prefix_offset : self.read_offset])
        delta = full[len(prefix) :] if len(full) > len(prefix) else ""
        self.prefix_offset = self.read_offset = len(self.tokens)
        self.text += delta
        return delta
