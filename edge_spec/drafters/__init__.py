"""Drafters propose candidate tokens for the target to verify (n-gram tiers, draft model, ...).

Each drafter is numpy-only and backend-agnostic. The speculative loop and the first drafters
come with the engine work (issue 5); `--drafter none` is plain decoding.
"""

DRAFTERS = ("none",)
