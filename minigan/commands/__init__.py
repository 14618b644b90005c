"""The ``minigan`` commands, one module each (``add_arguments(parser)`` and ``run(args) -> int``),
and the argument validators they share. :mod:`minigan.cli` only dispatches to them.

>>> POSITIVE_INT("3"), NON_NEGATIVE_INT("0"), POSITIVE_FLOAT("1e-3")
(3, 0, 0.001)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["NON_NEGATIVE_INT", "POSITIVE_FLOAT", "POSITIVE_INT", "number_type"]


def number_type(kind: type, what: str, valid: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)`` if ``valid`` of it, else the error "expected <what>"."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


POSITIVE_INT = number_type(int, "a positive integer", lambda v: v > 0)
NON_NEGATIVE_INT = number_type(int, "a non-negative integer", lambda v: v >= 0)
POSITIVE_FLOAT = number_type(float, "a positive number", lambda v: 0 < v < float("inf"))
