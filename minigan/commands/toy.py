"""``minigan toy``: train small MLPs on a toy distribution with any GAN objective and animate
the game.

``--loss`` is any objective of :data:`minigan.objectives.OBJECTIVES`; each trains with its row of
:data:`minigan.lab.games.TOY_SETTINGS` (optimiser, learning rate, betas, D steps per G step),
of which ``--lr`` and ``--n-critic`` override two.

Writes ``OUT/frames/step_*.png``, ``OUT/toy.gif`` and ``OUT/final.png`` (see
:func:`minigan.lab.frames.run_toy`, the same from Python); progress goes to stderr. Needs the
``plot`` extra (matplotlib, Pillow) and no data set.

``--backend`` picks the host kernels (:func:`minigan.commands.select_backend`): ``numpy`` (the
references) or ``numba``; without it, ``$MINIGAN_BACKEND``, else the fastest installed (numba
when it imports, else numpy), named in the first line on stderr. The toy's arrays stay NumPy
arrays on the host whatever the backend, so ``cupy`` (accepted, as by every command) runs the
host references too: the lab does not move its small MLPs to a GPU. A backend that cannot run
(a missing package) is one line ``minigan toy: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from minigan.commands import (
    FPS,
    OUT_DIR,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    add_backend_argument,
    error,
    release_backend,
    select_backend,
)
from minigan.data.toy import TOY_DISTRIBUTIONS
from minigan.lab.games import TOY_SETTINGS
from minigan.objectives import OBJECTIVES

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
        choices=list(OBJECTIVES),
        default="nonsaturating",
        help="the GAN objective: the BCE game with G's loss -log D(G(z)) (nonsaturating) or "
        "log(1 - D(G(z))) (minimax), least squares, hinge, WGAN (clipped critic) or WGAN-GP "
        "(gradient penalty) (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=POSITIVE_INT,
        default=3000,
        help="training iterations, each n-critic D steps then a G step (default: %(default)s)",
    )
    parser.add_argument(
        "--every",
        type=POSITIVE_INT,
        default=None,
        help=f"draw a frame every N steps (default: steps/{FRAMES}, about {FRAMES} frames)",
    )
    parser.add_argument(
        "--seed",
        type=SEED,
        default=0,
        help="seed of every random draw: weights, batches, drawn points (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=OUT_DIR,
        default="toy_out",
        help="output directory for frames/, toy.gif, final.png (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=POSITIVE_INT,
        default=256,
        help="batch size of every step (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=POSITIVE_FLOAT,
        default=None,
        help="learning rate of G and D (default: the objective's, "
        + ", ".join(f"{name} {row['lr']:g}" for name, row in TOY_SETTINGS.items())
        + "; Adam with betas (0.5, 0.999), WGAN RMSprop, WGAN-GP Adam with betas (0, 0.9))",
    )
    parser.add_argument(
        "--n-critic",
        type=POSITIVE_INT,
        default=None,
        help="D steps per G step (default: the objective's, "
        + ", ".join(f"{name} {row['n_critic']}" for name, row in TOY_SETTINGS.items())
        + ")",
    )
    parser.add_argument(
        "--fps",
        type=FPS,
        default=10.0,
        help="frames per second of the GIF (default: %(default)s)",
    )
    parser.add_argument(
        "--no-frames",
        dest="keep_frames",
        action="store_false",
        help="write only toy.gif and final.png, not the frames/ PNGs",
    )
    add_backend_argument(parser, fastest=True)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``minigan toy``: 0 when done, 2 when a backend or the ``plot`` extra is missing."""
    try:
        name = select_backend(args, fastest=True)
    except (ValueError, ImportError) as exc:  # unknown name, or its packages missing
        return error("toy", exc)
    try:
        return _run(args, name)
    finally:
        release_backend()  # a backend the command picked by itself is unselected again


def _run(args: argparse.Namespace, name: str) -> int:
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ModuleNotFoundError as err:
        return error(
            "toy",
            f"needs matplotlib and Pillow ({err.name} is missing): pip install 'minigan[plot]'",
        )
    from minigan.lab.frames import run_toy

    every = args.every or max(1, args.steps // FRAMES)
    if not args.quiet:
        print(
            f"minigan toy: {args.dist} | {args.loss} loss | {args.steps} steps | "
            f"seed {args.seed} | backend {name} | out {args.out}",
            file=sys.stderr,
        )
    try:
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
            n_critic=args.n_critic,
        )
    except OSError as exc:  # the output directory could not be written after all
        return error("toy", exc)
    print(result.final)
    return 0
