"""A VAE run's posterior against its prior, and its reconstructions of the test images: the
numbers of "Why the VAE scores worse, in its own numbers" in docs/vae.md, and the
``reconstructions.npy`` its table scores with ``minigan evaluate``.

Runs the encoder (the run's D, in eval mode) on the data set's test images and prints, from the
means ``mu`` and log-variances ``logvar``:

- the KL per image, ``1/2 (mu^2 + exp(logvar) - 1 - logvar)`` averaged over the images and
  summed over the dimensions (nats), and how many dimensions hold 90 % of it;
- in the 10 dimensions with the largest KL, the variance of ``mu`` over the images and the mean
  posterior standard deviation ``exp(logvar / 2)``;
- the aggregate posterior's variance per dimension, ``Var_x mu + E_x exp(logvar)`` (the
  prior's is 1), its smallest and largest.

Then writes the decoder means ``G(mu)`` as ``uint8`` images ``(N, 1, H, W)`` to ``--out``.

Usage::

    python docs/scripts/vae_latent.py runs/vae28-epoch1 --out reconstructions.npy
    minigan evaluate reconstructions.npy --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minigan.checkpoint import load_checkpoint, load_module_state
from minigan.data import load_dataset
from minigan.models import build
from minigan.sampling import load_generator

VAE_MODEL = "vae28"
CHUNK = 500  # images per forward pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--help`` describes it)."""
    parser = argparse.ArgumentParser(
        prog="vae_latent.py",
        description="A vae28 run's posterior statistics on the test images, and their "
        "reconstructions as .npy (docs/vae.md).",
    )
    parser.add_argument("run", type=Path, help="the vae28 run directory (or its checkpoint)")
    parser.add_argument("--out", type=Path, default=Path("reconstructions.npy"),
                        help="the reconstructions' .npy file (default: reconstructions.npy)")  # fmt: skip
    parser.add_argument("--data-dir", default=None,
                        help="where to look for the data set first")  # fmt: skip
    parser.add_argument("--no-download", action="store_true",
                        help="never download the data set")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        G, config = load_generator(args.run)
        if config.model != VAE_MODEL:
            raise ValueError(f"{args.run} is a {config.model} run, not a {VAE_MODEL} one")
        _, D = build(VAE_MODEL, config.z_dim, image_shape=config.image_shape)
        load_module_state(D, load_checkpoint(args.run, parts=("D",)).tensors["D"], "D")
        images = load_dataset(
            config.data, "test", data_dir=args.data_dir, download=not args.no_download
        )[0]
    except (OSError, ValueError) as exc:
        print(f"vae_latent.py: error: {exc}", file=sys.stderr)
        return 2
    k = config.z_dim
    x = images[:, None].astype(np.float32) / 127.5 - 1
    h = np.concatenate([D.eval()(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])
    mu, logvar = h[:, :k], h[:, k:]
    kl = 0.5 * (mu**2 + np.exp(logvar) - 1 - logvar).mean(0)  # per dimension, nats
    order = np.argsort(-kl)
    print("KL per image:", round(float(kl.sum()), 2), "nats; dimensions holding 90% of it:",
          int(np.searchsorted(np.cumsum(kl[order]) / kl.sum(), 0.9) + 1), "of", len(kl))  # fmt: skip
    top = order[:10]
    print("10 busiest dimensions: Var_x mu", np.round(mu[:, top].var(0).mean(), 3),
          "posterior std", np.round(np.exp(logvar[:, top] / 2).mean(), 3))  # fmt: skip
    agg = mu.var(0) + np.exp(logvar).mean(0)  # the aggregate posterior's variance, per dimension
    print("aggregate posterior variance (prior: 1) min", round(float(agg.min()), 3),
          "max", round(float(agg.max()), 3))  # fmt: skip
    recon = np.concatenate([G(mu[i : i + CHUNK]) for i in range(0, len(mu), CHUNK)])
    np.save(args.out, np.round((recon + 1) * 127.5).clip(0, 255).astype(np.uint8))
    print(f"wrote {len(recon)} reconstructions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
