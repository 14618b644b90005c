"""``minigan gradcheck``: every layer and loss against finite differences, as a table
(:func:`minigan.gradcheck.suite`); exit status 1 if any check fails."""

from __future__ import annotations

import argparse

from minigan.commands import NON_NEGATIVE_INT
from minigan.gradcheck import format_table, suite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan gradcheck``."""
    parser.add_argument(
        "--seed", type=NON_NEGATIVE_INT, default=0, help="seed for shapes and values (default 0)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the table; 1 if any check fails."""
    reports = suite(args.seed)
    print(format_table(reports))
    failed = [rep.name for rep in reports if not rep.passed]
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
