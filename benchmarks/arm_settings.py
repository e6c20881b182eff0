"""The `NAME:OBJECT.ATTRIBUTE=VALUE[,...]` settings that loop_ab.py's arms and
ngram_thresholds.py's variants are written in."""

from __future__ import annotations

import ast
import dataclasses


def split_settings(text: str) -> list[str]:
    """TEXT split at the commas outside brackets: "a=1,b={1:2,3:4}" -> ["a=1", "b={1:2,3:4}"]."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text + ","):
        depth += (char in "{([") - (char in "})]")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [part for part in parts if part]


def setting_value(current: object, text: str) -> object:
    """TEXT as a Python literal; a tuple for a dataclass attribute (CountThresholds) builds one."""
    value = ast.literal_eval(text)
    if dataclasses.is_dataclass(current) and isinstance(value, tuple):
        return type(current)(*value)
    return value
