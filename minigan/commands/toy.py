"""``minigan toy``: train small MLPs on a toy distribution and animate the game.

Writes ``OUT/frames/step_*.png``, ``OUT/toy.gif`` and ``OUT/final.png`` (see
:func:`minigan.lab.frames.run_toy`, the same from Python); progress goes to stderr. Needs the
``plot`` extra (matplotlib, Pillow) and no data set.

``--backend`` picks the host kernels (:func:`minigan.commands.select_backend`): ``numpy`` (the
references) or ``numba``. The toy's arrays stay NumPy arrays on the host whatever the backend,
so ``cupy`` (accepted, as by every command) runs the host references too: the lab does not move
its small MLPs to a GPU. A backend that cannot run (a missing package) is one line
``minigan toy: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from minigan.commands import POSITIVE_FLOAT, POSITIVE_INT, add_backend_argument, select_backend
from minigan.data.toy import TOY_DISTRIBUTIONS
from minigan.losses import GENERATOR_LOSSES

FRAMES = 40  # frames drawn when --every is not given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dist",
        choices=list(TOY_DISTRIBUTIONS),
        default="ring8",
        help="toy data distribution (default: %(default)s)",
    )
    parser.add_argument(
        "--loss",
        choices=GENERATOR_LOSSES,
        default="nonsaturating",
        help="generator loss: -log D(G(z)) or log(1 - D(G(z))) (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=POSITIVE_INT,
        default=3000,
        help="training iterations, each a D step then a G step (default: %(default)s)",
    )
    parser.add_argument(
        "--every",
        type=POSITIVE_INT,
        default=None,
        help=f"draw a frame every N steps (default: steps/{FRAMES}, about {FRAMES} frames)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every random draw: weights, batches, drawn points (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default="toy_out",
        help="output directory for frames/, toy.gif, final.png (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=POSITIVE_INT,
        default=256,
        help="batch size of both steps (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=POSITIVE_FLOAT,
        default=1e-3,
        help="Adam learning rate of G and D, betas (0.5, 0.999) (default: %(default)s)",
    )
    parser.add_argument(
        "--fps",
        type=POSITIVE_FLOAT,
        default=10.0,
        help="frames per second of the GIF (default: %(default)s)",
    )
    parser.add_argument(
        "--no-frames",
        dest="keep_frames",
        action="store_false",
        help="write only toy.gif and final.png, not the frames/ PNGs",
    )
    add_backend_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``minigan toy``: 0 when done, 2 when a backend or the ``plot`` extra is missing."""
    try:
        select_backend(args)
    except (ValueError, ImportError) as exc:  # unknown name, or its packages missing
        print(f"minigan toy: error: {exc}", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ModuleNotFoundError as err:
        print(
            f"minigan toy: error: needs matplotlib and Pillow ({err.name} is missing): "
            "pip install 'minigan[plot]'",
            file=sys.stderr,
        )
        return 2
    from minigan.lab.frames import run_toy

    every = args.every or max(1, args.steps // FRAMES)
    result = run_toy(
        args.dist,
        args.loss,
        steps=args.steps,
        every=every,
        seed=args.seed,
        out=args.out,
        fps=args.fps,
        keep_frames=args.keep_frames,
        verbose=not args.quiet,
        batch=args.batch,
        lr=args.lr,
    )
    print(result.final)
    return 0
