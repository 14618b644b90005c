"""The ``minigan`` command: ``minigan <command> --help`` documents each command's flags.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gradcheck": ("minigan.gradcheck", "check every layer and loss against finite differences"),
    "toy": ("minigan.lab.toy_command", "train a GAN on toy 2-D/1-D data and animate it"),
    "lab": ("minigan.lab.lab_command", "check the GAN theory with numbers and figures"),
    "train": ("minigan.train", "train a GAN on Fashion-MNIST, MNIST or IDX files; resume a run"),
    "sample": ("minigan.sampling", "write samples of a trained generator as .npy or a .png grid"),
}


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


# the validators the commands share
POSITIVE_INT = number_type(int, "a positive integer", lambda v: v > 0)
NON_NEGATIVE_INT = number_type(int, "a non-negative integer", lambda v: v >= 0)
POSITIVE_FLOAT = number_type(float, "a positive number", lambda v: 0 < v < float("inf"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return importlib.import_module(args._module).run(args)


if __name__ == "__main__":
    sys.exit(main())
