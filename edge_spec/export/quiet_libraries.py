"""Keeping the libraries export drives (transformers, NNCF) off the terminal.

The exporter reports its own stages with rich; progress bars and notices drawn by the libraries
underneath would cut into that display.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars or info chatter from transformers: edge-spec reports its own stages."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        # The GGUF loader draws its own tqdm bar, which the switch above does not reach.
        with bar_disabled("transformers.modeling_gguf_pytorch_utils", "tqdm"):
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def bar_disabled(module_name: str, factory: str) -> Iterator[None]:
    """Within the block, MODULE_NAME's progress-bar FACTORY (tqdm, rich track) draws nothing."""
    module = sys.modules.get(module_name)
    if module is None:
        with contextlib.suppress(ImportError):
            module = importlib.import_module(module_name)
    bar = getattr(module, factory, None)
    if bar is not None:
        setattr(module, factory, functools.partial(bar, disable=True))
    try:
        yield
    finally:
        if bar is not None:
            setattr(module, factory, bar)


@contextlib.contextmanager
def quiet_nncf() -> Iterator[None]:
    """NNCF's bit-width table and progress bar, kept off the terminal: the exporter reports stages."""
    import nncf
    from nncf.common.logging import nncf_logger

    level = nncf_logger.level
    nncf.set_log_level(logging.ERROR)
    try:
        with bar_disabled("nncf.quantization.algorithms.weight_compression.algorithm", "track"):
            yield
    finally:
        nncf.set_log_level(level)
