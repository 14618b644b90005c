"""``minigan lab CHECK``: check a statement of the GAN theory with numbers, and draw it.

======================  ==============================================================
``optimal-d``           trained D vs D* = p_data / (p_data + p_g) against a fixed G
``value``               V(D*, G) = -log 4 + 2 JSD for several fixed G
``saturation``          generator gradient norms of both losses while D rejects fakes
``modes``               modes covered and off-mode share on ring8/grid25, per objective
                        and seed (``--losses``: any objective; default the two BCE ones)
``losses``              every generator loss and its gradient against D's output on a fake
``mistakes``            six classic GAN mistakes, each measured against the correct version
                        (``--only NAME``: one of them; ``--generator RUN_DIR``: BatchNorm
                        on a trained G; ``docs/mistakes.md``)
======================  ==============================================================

Each prints its numbers and writes its figure into ``--out`` (needs the ``plot`` extra; without
it, the numbers alone). ``optimal-d`` and ``value`` exit with 1 when a tolerance is missed.

Every check takes ``--backend`` (:func:`minigan.commands.select_backend`): ``numpy`` or
``numba`` host kernels; the lab's arrays stay on the host, so ``cupy`` runs the host references.
A backend that cannot run is one line ``minigan lab: error: ...`` on stderr and exit status 2.
The notation of the printed numbers is ``docs/notation.md``'s; the derivations are
``docs/minimax.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from minigan.commands import (
    OUT_DIR,
    POSITIVE_INT,
    SEED,
    add_backend_argument,
    error,
    select_backend,
)
from minigan.lab import games, mistakes, modes, theory
from minigan.objectives import OBJECTIVES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="check", required=True, metavar="CHECK")
    helps = {
        "optimal-d": "statement 1: a trained D converges to D* = p_data / (p_data + p_g)",
        "value": "statement 2: V(D*, G) = -log 4 + 2 JSD(p_data || p_g), for several G",
        "saturation": "statement 3: the minimax generator gradient vanishes when D rejects fakes",
        "modes": "statement 4: modes covered and off-mode share over training, per objective "
        "and seed",
        "losses": "each objective's generator loss and its gradient against D's output on a fake",
        "mistakes": "six classic GAN mistakes, each measured next to the correct version",
    }
    parsers = {
        name: sub.add_parser(name, help=text, description=text) for name, text in helps.items()
    }
    for name, p in parsers.items():
        p.add_argument(
            "--out",
            type=OUT_DIR,
            default="lab_out",
            help="directory for figures and tables (default: %(default)s)",
        )
        if name != "losses":  # the only check that draws nothing
            p.add_argument(
                "--seed", type=SEED, default=0, help="random seed (default: %(default)s)"
            )
        add_backend_argument(p)
    for name in ("optimal-d", "value"):
        parsers[name].add_argument(
            "--steps",
            type=POSITIVE_INT,
            default=3000,
            help="D training steps (default: %(default)s)",
        )
    parsers["value"].add_argument(
        "--samples",
        type=POSITIVE_INT,
        default=200_000,
        help="Monte Carlo samples per distribution (default: %(default)s)",
    )
    sat = parsers["saturation"]
    sat.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="G's optimizer (default: %(default)s)",
    )
    sat.add_argument(
        "--steps",
        type=POSITIVE_INT,
        default=200,
        help="GAN steps measured after the warm-up (default: %(default)s)",
    )
    sat.add_argument(
        "--warmup",
        type=POSITIVE_INT,
        default=300,
        help="D-only steps first, so that D rejects the fakes (default: %(default)s)",
    )
    mis = parsers["mistakes"]
    mis.add_argument(
        "--only",
        choices=list(mistakes.MISTAKES),
        help="run this mistake alone (default: all, in this order: %(choices)s)",
    )
    mis.add_argument(
        "--steps",
        type=POSITIVE_INT,
        default=1000,
        help="toy training steps per run (saturation: at most 50 of them) (default: %(default)s)",
    )
    mis.add_argument(
        "--generator",
        metavar="RUN_DIR",
        help="the batchnorm mistake on this trained DCGAN-28 run's G (default: an untrained G, "
        "no data needed)",
    )
    mod = parsers["modes"]
    mod.add_argument(
        "--dists",
        nargs="+",
        choices=("ring8", "grid25"),
        default=["ring8", "grid25"],
        help="mixtures to train on (default: ring8 grid25)",
    )
    mod.add_argument(
        "--losses",
        nargs="+",
        choices=list(OBJECTIVES),
        default=list(games.BCE_LOSSES),
        help="objectives, each with its toy settings (minigan.lab.games.TOY_SETTINGS) "
        "(default: the BCE game's two generator losses, nonsaturating minimax)",
    )
    mod.add_argument(
        "--seeds",
        type=POSITIVE_INT,
        default=3,
        help="runs per (dist, loss), seeds SEED..SEED+N-1 (default: %(default)s)",
    )
    mod.add_argument(
        "--steps",
        type=POSITIVE_INT,
        default=3000,
        help="steps per run, each n_critic D steps and a G step (default: %(default)s)",
    )
    mod.add_argument(
        "--every",
        type=POSITIVE_INT,
        default=250,
        help="measure coverage every N steps (default: %(default)s)",
    )


def _figure(name: str, *args) -> None:
    """Draw with :mod:`minigan.lab.figures` when matplotlib is there; say where it went."""
    from minigan.lab import figures

    try:
        path = getattr(figures, name)(*args)
    except ModuleNotFoundError as err:
        print(f"no figure ({err.name} missing): pip install 'minigan[plot]'", file=sys.stderr)
        return
    print(f"figure: {path}")


def _optimal_d(args: argparse.Namespace, out: Path) -> int:
    r = theory.check_optimal_d(np.random.default_rng(args.seed), steps=args.steps)
    where = r.grid[r.region][np.abs(r.d - r.d_star)[r.region].argmax()]
    ok = r.max_gap < theory.OPTIMAL_D_TOL
    print(f"data gmm1d, fixed G N(0, 1), D trained {args.steps} steps (seed {args.seed})")
    print(
        f"max |D - D*| where p_data + p_g > {r.threshold:g}: {r.max_gap:.4f} at x = {where:+.2f}"
        f"  (tolerance {theory.OPTIMAL_D_TOL}: {'ok' if ok else 'MISSED'})"
    )
    _figure("plot_optimal_d", r, out / "optimal_d.png")
    return 0 if ok else 1


def _value(args: argparse.Namespace, out: Path) -> int:
    results = theory.check_value(np.random.default_rng(args.seed), n=args.samples, steps=args.steps)
    print(f"-log 4 = {-theory.LOG4:.4f}; {args.samples} samples each; D trained {args.steps} steps")
    print(f"{'G':<16}{'JSD':>8}{'-log4+2JSD':>12}{'V(D*) ± se':>20}{'V(D) ± se':>20}")
    ok = True
    for r in results:
        exact_ok = abs(r.exact - r.theory) <= 4 * r.exact_se + 1e-12
        trained_ok = math.isnan(r.trained) or abs(r.trained - r.theory) < theory.VALUE_TOL
        ok &= exact_ok and trained_ok
        print(
            f"{'p_data itself' if r.gen.name == 'gmm1d' else r.gen.name:<16}"
            f"{r.jsd:>8.4f}{r.theory:>12.4f}"
            f"{f'{r.exact:.4f} ± {r.exact_se:.4f}':>20}{f'{r.trained:.4f} ± {r.trained_se:.4f}':>20}"
        )
    print(
        f"tolerances: |V(D*) - theory| < 4 se; |V(D) - theory| < {theory.VALUE_TOL}: "
        f"{'ok' if ok else 'MISSED'}"
    )
    _figure("plot_value", results, out / "value.png")
    return 0 if ok else 1


def _saturation(args: argparse.Namespace, out: Path) -> int:
    runs = theory.measure_saturation(
        args.seed, optimizer=args.optimizer, warmup=args.warmup, steps=args.steps
    )
    print(
        f"ring8, D trained alone {args.warmup} steps, then G ({args.optimizer}) and D; "
        "mean per-sample ‖∂ℓ/∂x‖ at the generated points of each loss, and their ratio "
        "minimax/ns (per sample it is D/(1 - D) = e^a)"
    )
    for loss, run in runs.items():
        print(f"G trained with {loss}:")
        print(
            f"  {'step':>6}{'mean D(G(z))':>14}{'minimax':>12}{'non-sat.':>12}"
            f"{'ratio minimax/ns':>18}"
        )
        for s in sorted(
            {s for s in (0, 1, 10, 50, args.steps // 2, args.steps) if s <= args.steps}
        ):
            mm, ns = run.norm_minimax[s], run.norm_nonsaturating[s]
            print(f"  {s:>6}{run.d_fake[s]:>14.2e}{mm:>12.2e}{ns:>12.2e}{mm / ns:>18.3g}")
    _figure("plot_saturation", runs, out / f"saturation_{args.optimizer}.png")
    return 0


def _modes(args: argparse.Namespace, out: Path) -> int:
    runs = modes.mode_collapse_runs(
        args.dists,
        args.losses,
        range(args.seed, args.seed + args.seeds),
        steps=args.steps,
        every=args.every,
        progress=lambda text: print(text, file=sys.stderr),
    )
    table = modes.mode_table(runs)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "modes.md").write_text(table + "\n")
    print(f"table: {out / 'modes.md'}")
    _figure("plot_modes", runs, out / "modes.png")
    return 0


def _losses(args: argparse.Namespace, out: Path) -> int:
    curves = games.generator_loss_curves()
    at = [-8.0, -4.0, -1.0, 0.0, 1.0, 4.0, 8.0]
    small = games.generator_loss_curves(outputs=at)
    print("per-sample |dℓ/do| of each generator loss at D's output o on a fake")
    print("(o: the logit a for nonsaturating and minimax, the score for the others)")
    print(f"{'objective':<16}" + "".join(f"{f'o = {o:+g}':>11}" for o in at))
    for name, grad in small.grads.items():
        print(f"{name:<16}" + "".join(f"{abs(g):>11.3g}" for g in grad))
    _figure("plot_generator_losses", curves, out / "generator_losses.png")
    return 0


def _mistakes(args: argparse.Namespace, out: Path) -> int:
    names = [args.only] if args.only else list(mistakes.MISTAKES)
    generator = None
    if args.generator is not None:
        from minigan.checkpoint import CheckpointError
        from minigan.sampling import load_generator

        try:
            G, config = load_generator(args.generator)
        except CheckpointError as exc:
            return error("lab mistakes", exc)
        if config.model != "dcgan28" or config.num_classes is not None:
            return error(
                "lab mistakes",
                f"--generator {args.generator}: a {config.model} run; the batchnorm mistake "
                "needs an unconditional dcgan28 run (its G has BatchNorm)",
            )
        generator = (G, config.z_dim)
    rows, figures, missing = [], [], None
    for name in names:
        print(f"running {name} ...", file=sys.stderr)
        result = mistakes.run_mistake(name, args.seed, args.steps, generator)
        rows.append(result.row())
        if missing is None:
            try:
                from minigan.lab.mistakes_figures import plot_mistake

                figures.append(plot_mistake(name, result, out))
            except ModuleNotFoundError as err:
                missing = err.name
    print(f"seed {args.seed}, {args.steps} toy steps; docs/mistakes.md explains each line")
    head = ("mistake", "measured", "wrong version", "correct version")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)).rstrip())
    for path in figures:
        print(f"figure: {path}")
    if missing:
        print(f"no figures ({missing} missing): pip install 'minigan[plot]'", file=sys.stderr)
    return 0


CHECKS = {
    "optimal-d": _optimal_d,
    "value": _value,
    "saturation": _saturation,
    "modes": _modes,
    "losses": _losses,
    "mistakes": _mistakes,
}


def run(args: argparse.Namespace) -> int:
    """Run ``minigan lab CHECK``: 0 when its tolerances hold, 1 when one is missed, 2 when the
    backend cannot run."""
    try:
        select_backend(args)
    except (ValueError, ImportError) as exc:  # unknown name, or its packages missing
        return error("lab", exc)
    try:
        return CHECKS[args.check](args, Path(args.out))
    except OSError as exc:  # the output directory could not be written after all
        return error("lab", exc)
