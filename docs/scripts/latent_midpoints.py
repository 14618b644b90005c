"""Halfway points of lerp and slerp, decoded, for the three midpoint tables of docs/latent.md.

Writes ``.npy`` files of ``uint8`` images ``(N, H, W)`` for ``minigan evaluate`` into ``--out``
and prints the mean norms the tables quote:

- ``--kind seeds`` (a GAN run; the table of "lerp or slerp"): the noise of seeds ``2i`` and
  ``2i + 1`` for ``i < N`` (``minigan.latent.seed_noise``), their lerp and slerp midpoints
  decoded to ``mid_lerp.npy`` and ``mid_slerp.npy``, and the seeds ``2i`` themselves to
  ``ends.npy``. Default ``N`` 5,000.
- ``--kind labels`` (a conditional run; "Morphing the label"): every pair of classes
  ``A < B``, each with the noise of seeds ``0 .. N-1``, G on the halfway blend of the two
  class embeddings, to ``label_mid_lerp.npy`` and ``label_mid_slerp.npy``. Default ``N`` 100.
- ``--kind vae`` (a ``vae28`` run; "Between two real images"): the encoder's means of test
  images ``2i`` and ``2i + 1`` for ``i < N`` (``minigan.vae.encode_mean``), their norms and
  cosines, the decoded midpoints to ``vae_mid_lerp.npy`` and ``vae_mid_slerp.npy``, and the
  reconstructions of the images ``2i`` to ``vae_ends.npy``. Default ``N`` 5,000 (all 10,000
  Fashion-MNIST test images).

Then score each file: ``minigan evaluate DIR/mid_lerp.npy --json`` (add ``--data-dir`` and
``--no-download`` as for ``minigan train``).

Usage::

    python docs/scripts/latent_midpoints.py runs/dcgan28-nonsaturating --kind seeds --out DIR
    python docs/scripts/latent_midpoints.py runs/cdcgan28 --kind labels --out DIR
    python docs/scripts/latent_midpoints.py runs/vae28-epoch1 --kind vae --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minigan import nn
from minigan.checkpoint import load_checkpoint, load_module_state
from minigan.commands.interpolate import generate_embedded
from minigan.config import TrainConfig
from minigan.data import load_dataset
from minigan.data.loader import as_nchw, to_uint8, to_unit_range
from minigan.latent import lerp, seed_noise, slerp
from minigan.models import build
from minigan.sampling import generate, load_generator
from minigan.vae import encode_mean

KINDS = ("seeds", "labels", "vae")
DEFAULT_N = {"seeds": 5000, "labels": 100, "vae": 5000}
VAE_MODEL = "vae28"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--help`` describes it)."""
    parser = argparse.ArgumentParser(
        prog="latent_midpoints.py",
        description="Decode the lerp and slerp midpoints of a run's latent points into .npy "
        "files for `minigan evaluate` (the midpoint tables of docs/latent.md).",
    )
    parser.add_argument("run", type=Path, help="the run directory (or its checkpoint)")
    parser.add_argument("--kind", choices=KINDS, required=True,
                        help="seeds: noise of seed pairs (a GAN run); labels: class embeddings "
                        "(a conditional run); vae: encoder means of test images (a vae28 run)")  # fmt: skip
    parser.add_argument("--n", type=int, default=None,
                        help="pairs (seeds, vae: default 5000) or noise seeds per pair of "
                        "classes (labels: default 100)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="directory the .npy files are written to (default: .)")  # fmt: skip
    parser.add_argument("--data-dir", default=None,
                        help="where to look for the data set first (--kind vae)")  # fmt: skip
    parser.add_argument("--no-download", action="store_true",
                        help="never download the data set (--kind vae)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = DEFAULT_N[args.kind]
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    return args


def seed_midpoints(G: nn.Module, config: TrainConfig, n: int, out: Path) -> None:
    """Midpoints of the noise of seeds ``2i`` and ``2i + 1``; the seeds ``2i`` as ``ends``."""
    if config.num_classes:
        raise ValueError("--kind seeds needs an unconditional run (for a conditional one: labels)")
    z = np.stack([seed_noise(s, config.z_dim) for s in range(2 * n)])
    a, b = z[0::2], z[1::2]
    mids = {
        "lerp": np.stack([lerp(x, y, 0.5) for x, y in zip(a, b)]),
        "slerp": np.stack([slerp(x, y, 0.5) for x, y in zip(a, b)]),
    }
    print(f"|z| of the {2 * n} seeds: mean {np.linalg.norm(z, axis=1).mean():.3f}")
    for mode, m in mids.items():
        print(f"|{mode} midpoint|: mean {np.linalg.norm(m, axis=1).mean():.3f}")
        np.save(out / f"mid_{mode}.npy", to_uint8(generate(G, m)[:, 0]))
    np.save(out / "ends.npy", to_uint8(generate(G, a)[:, 0]))


def label_midpoints(G: nn.ConditionalGenerator, config: TrainConfig, n: int, out: Path) -> None:
    """Halfway blends of every pair of class embeddings, with the noise of seeds ``0 .. n-1``."""
    if not config.num_classes:
        raise ValueError(f"--kind labels needs a conditional run; this one ({config.model}) is not")
    E = G.embedding(np.arange(config.num_classes))
    k = config.num_classes
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    z = np.stack([seed_noise(s, config.z_dim) for s in range(n)])
    zz = np.tile(z, (len(pairs), 1))
    for mode, f in (("lerp", lerp), ("slerp", slerp)):
        mids = np.repeat(np.stack([f(E[a], E[b], 0.5) for a, b in pairs]), len(z), axis=0)
        print(f"|{mode} midpoint embedding|: mean {np.linalg.norm(mids, axis=1).mean():.3f}")
        np.save(out / f"label_mid_{mode}.npy", to_uint8(generate_embedded(G, zz, mids)[:, 0]))
    print(f"|e_k|: mean {np.linalg.norm(E, axis=1).mean():.3f}")


def vae_midpoints(G: nn.Module, config: TrainConfig, args: argparse.Namespace) -> None:
    """Decoded midpoints of the encoder's means of test images ``2i`` and ``2i + 1``."""
    if config.model != VAE_MODEL:
        raise ValueError(f"--kind vae needs a {VAE_MODEL} run; this one is {config.model}")
    _, D = build(config.model, config.z_dim, image_shape=config.image_shape)
    load_module_state(D, load_checkpoint(args.run, parts=("D",)).tensors["D"], "D")
    images = load_dataset(
        config.data, "test", data_dir=args.data_dir, download=not args.no_download
    )[0]
    if 2 * args.n > len(images):
        raise ValueError(
            f"--n {args.n}: {2 * args.n} images asked for, the test split has {len(images)}"
        )
    mu = encode_mean(D, to_unit_range(as_nchw(images[: 2 * args.n])))
    norms = np.linalg.norm(mu, axis=1)
    print(f"z_dim {config.z_dim}: prior draws have |z| ~ {np.sqrt(config.z_dim):.2f}")
    print(f"|mu| of the {len(mu)} test images: mean {norms.mean():.3f}, std {norms.std():.3f}")
    active = (mu.var(axis=0) > 0.01).sum()
    print(f"dimensions whose mean varies over the images (variance > 0.01): {active}")
    a, b = mu[0::2], mu[1::2]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"cosine between the pairs' means: mean {cos.mean():.3f}")
    for mode, f in (("lerp", lerp), ("slerp", slerp)):
        m = np.stack([f(x, y, 0.5) for x, y in zip(a, b)])
        print(f"|{mode} midpoint|: mean {np.linalg.norm(m, axis=1).mean():.3f}")
        np.save(args.out / f"vae_mid_{mode}.npy", to_uint8(generate(G, m)[:, 0]))
    np.save(args.out / "vae_ends.npy", to_uint8(generate(G, a)[:, 0]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        G, config = load_generator(args.run)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.kind == "seeds":
            seed_midpoints(G, config, args.n, args.out)
        elif args.kind == "labels":
            label_midpoints(G, config, args.n, args.out)
        else:
            vae_midpoints(G, config, args)
    except (OSError, ValueError) as exc:
        print(f"latent_midpoints.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
