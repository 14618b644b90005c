"""The minigan command: "minigan COMMAND --help" documents the flags of each command.

Each command is a module of :mod:`minigan.commands` with ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches to them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

# command -> one-line help; the module is minigan.commands.<command>
COMMANDS: dict[str, str] = {
    "gradcheck": "check every layer and loss against finite differences",
    "toy": "train a GAN on toy 2-D/1-D data and animate it",
    "lab": "check the GAN theory with numbers and figures",
    "train": "train a GAN on Fashion-MNIST, MNIST or IDX files; resume a run",
    "sample": "write samples of a trained generator as .npy or a .png grid",
    "evaluate": "FID, KID, precision/recall, coverage of a generator or .npy of images",
    "interpolate": "pictures of a generator along a path between seeds, labels or images",
}


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"minigan.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (each command module adds its own flags)."""
    parser = argparse.ArgumentParser(prog="minigan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _command(name).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns its exit status (130 after Ctrl-C, with one
    line on stderr instead of a traceback, at start-up too)."""
    command = "minigan"
    try:
        args = build_parser().parse_args(argv)
        command = f"minigan {args.command}"
        return _command(args.command).run(args)
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
