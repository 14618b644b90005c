"""``minigan interpolate``: a trained generator's images along a path through its latent space.

The path's points (each segment ``--steps`` images, both ends included, :func:`minigan.latent.path`):

- ``--seeds A B [C ...]``: the noise vectors of those seeds, ``default_rng(S).standard_normal(
  z_dim)`` in G's dtype (:func:`minigan.latent.seed_noise`): the first sample of ``minigan sample
  --seed S``. A conditional run draws them all in class ``--label K`` (default 0).
- ``--labels A B [...]`` (conditional runs): one noise vector (``--seeds S``, default 0) while the
  label morphs from class to class: G's embeddings of the classes are the points, and G runs on
  the blended embeddings (:meth:`minigan.nn.ConditionalGenerator.forward_embedded`).
- ``--images I J [...]`` (VAE runs, model ``vae28``): the encoder's means of those images of the
  run's data set (its test split; a dry run's random images), :func:`minigan.vae.encode_mean`
  (a VAE run's D is its encoder, its G the decoder).

``--mode``: ``slerp`` by default, for every kind of point. Gaussian noise lives near the sphere
of radius ``sqrt(z_dim)``, which the straight line leaves (:mod:`minigan.latent`). Label
embeddings and VAE means are not draws of N(0, I), but they too are nearly orthogonal vectors
of similar norms, whose lerp midpoint shrinks by about ``1/sqrt(2)``; measured in
``docs/latent.md``, slerp's midpoints score a better FID in all three cases. ``lerp`` on request.

What is written follows the number of points, and ``--out``'s extension must say the same:
two points make a **strip** ``.png`` of ``--steps`` images in one row (a thin grey border
between them); three or more make a looping **GIF** that walks the path, one image per frame
(``(P - 1)(steps - 1) + 1`` frames for P points), at ``--fps`` frames per second. The GIF plays
the path forward and starts again from its first point; a path that ends where it began
(``--seeds 1 2 3 1``) loops without a seam: its last frame, the first one again, is dropped.
``--scale N`` enlarges each pixel to N x N. (Pillow stores a run of identical frames as one
frame shown as long as all of them, so a GIF may count fewer frames than images, and plays
the same.)

Exit codes: 0 done, 2 a bad input (one line ``minigan interpolate: error: ...``; nothing
written), 130 interrupted. Files appear whole or not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from minigan import backend, nn
from minigan.commands import (
    FPS,
    NON_NEGATIVE_INT,
    OUT_FILE,
    POSITIVE_INT,
    SEED,
    add_backend_argument,
    add_run_argument,
    error,
    number_type,
    select_backend,
)
from minigan.latent import MODES, path, seed_noise
from minigan.resources import check_memory, samples_bytes
from minigan.sampling import generate, load_generator

#: ``--steps``: images per segment, both ends included.
STEPS = number_type(int, "an integer of at least 2", lambda v: v >= 2)
VAE_MODEL = "vae28"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan interpolate``."""
    add_run_argument(parser)
    what = parser.add_argument_group("the path's points (one kind)")
    what.add_argument(
        "--seeds", type=SEED, nargs="+", metavar="S",
        help="noise vectors: those of minigan sample --seed S (two or more; with --labels one, "
        "default 0)",
    )  # fmt: skip
    what.add_argument(
        "--labels", type=NON_NEGATIVE_INT, nargs="+", metavar="K",
        help="conditional runs: morph the label's embedding through these classes (two or more)",
    )  # fmt: skip
    what.add_argument(
        "--images", type=NON_NEGATIVE_INT, nargs="+", metavar="I",
        help="VAE runs: the encodings of these images of the test split (two or more)",
    )  # fmt: skip
    parser.add_argument(
        "--label", type=NON_NEGATIVE_INT, metavar="K",
        help="conditional runs: the class of a --seeds path (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--mode", choices=MODES,
        default="slerp",
        help="slerp (default: along the great circle, the norm linear) or lerp (straight line)",
    )  # fmt: skip
    parser.add_argument(
        "--steps", type=STEPS, default=10, metavar="K",
        help="images per segment, both ends included (default: 10)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=OUT_FILE, required=True, metavar="FILE",
        help="FILE.png: a strip, for two points; FILE.gif: an animation, for three or more",
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=POSITIVE_INT, default=1, metavar="N",
        help="enlarge every pixel to N x N (default: 1)",
    )  # fmt: skip
    parser.add_argument("--fps", type=FPS, default=10.0, help="GIF frames per second (default: 10)")
    parser.add_argument("--data-dir", metavar="DIR", help="--images: directory searched first")
    parser.add_argument("--no-download", action="store_true", help="--images: never download")
    add_backend_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Write the pictures of the path to ``args.out``; 2 with a one-line error on a bad input."""
    try:
        _check_flags(args)
        select_backend(args)
        G, config = load_generator(args.checkpoint)
        _check_fits(G, config, args)
        if backend.current() == backend.DEVICE_BACKEND:
            G.to(backend.DEVICE_BACKEND)
        images, points, what = _images(G, config, args)
        written = _write(images, points, args)
    except (OSError, ValueError, TypeError, ImportError, MemoryError) as exc:
        reason = "not enough memory: " if isinstance(exc, MemoryError) else ""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return error("interpolate", reason + message)
    kind = "strip" if points == 2 else "GIF"
    print(f"wrote a {kind} of {written} images of {config.model} ({what}) to {args.out}")
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """The flags' combinations that need no checkpoint (a ``ValueError`` naming the problem)."""
    kinds = [f"--{k}" for k in ("labels", "images") if getattr(args, k) is not None]
    if len(kinds) == 2:
        raise ValueError("give --labels or --images, not both")
    if kinds and kinds[0] == "--images" and args.seeds is not None:
        raise ValueError("--images makes the path from encodings: drop --seeds")
    if kinds and args.label is not None:
        raise ValueError(f"--label is the class of a --seeds path; {kinds[0]} sets the path")
    if kinds and len(getattr(args, kinds[0][2:])) < 2:
        raise ValueError(f"{kinds[0]} needs two or more values, got one")
    if args.labels is not None and args.seeds is not None and len(args.seeds) != 1:
        raise ValueError("--labels morphs the label of one noise vector: give one --seeds value")
    if not kinds and (args.seeds is None or len(args.seeds) < 2):
        raise ValueError("give two or more --seeds (or --labels on a conditional run, --images "
                         "on a VAE run)")  # fmt: skip
    points = len(args.labels or args.images or args.seeds)
    suffix, want = Path(args.out).suffix.lower(), ".png" if points == 2 else ".gif"
    if suffix != want:
        hint = "name a third point for a .gif" if points == 2 else "two points make a .png strip"
        raise ValueError(f"--out: a path of {points} points is written as {want}, got "
                         f"{args.out} ({hint})")  # fmt: skip


def _check_fits(G: nn.Module, config, args: argparse.Namespace) -> None:
    """Refuse a path whose images cannot fit in memory, before drawing any (the noise, the
    images, their pixels and the picture, scaled)."""
    points = len(args.labels or args.images or args.seeds)
    m = (points - 1) * (args.steps - 1) + 1
    shape = config.image_shape or (1, 28, 28)
    itemsize = (G.dtype or np.dtype(np.float32)).itemsize
    picture = m * shape[0] * (shape[1] + 2) * (shape[2] + 2) * args.scale**2 * 2
    need = samples_bytes(m, config.z_dim, shape, itemsize) + picture
    check_memory(need, f"--steps {args.steps}: {m} images of shape {tuple(shape)}")


def _images(G: nn.Module, config, args: argparse.Namespace) -> tuple[np.ndarray, int, str]:
    """``(images (M, C, H, W) in [-1, 1], number of points, a description)`` of the path."""
    k = config.num_classes
    if args.images is not None:
        if config.model != VAE_MODEL:
            raise ValueError(f"--images needs a VAE run (model {VAE_MODEL}), not {config.model}")
        return _vae_path(G, config, args)
    if config.num_classes is None and (args.labels is not None or args.label is not None):
        flag = "--labels" if args.labels is not None else "--label"
        raise ValueError(f"{flag} needs a conditional run (minigan train --conditional)")
    for label in args.labels or ([] if args.label is None else [args.label]):
        if label >= k:
            raise ValueError(f"class {label} is not one of the run's classes 0..{k - 1}")
    dtype = G.dtype or np.dtype(np.float32)
    if args.labels is not None:
        mode, seed = args.mode, (args.seeds or [0])[0]
        e = backend.to_numpy(G.embedding(backend.to_device(np.array(args.labels), _device(G))))
        e_path = path(e, args.steps, mode)
        z = np.repeat(seed_noise(seed, config.z_dim, dtype)[None], len(e_path), axis=0)
        what = f"seed {seed}, labels {' '.join(map(str, args.labels))}, {mode}"
        return generate_embedded(G, z, e_path), len(args.labels), what
    mode = args.mode
    z = path(np.stack([seed_noise(s, config.z_dim, dtype) for s in args.seeds]), args.steps, mode)
    labels = None if k is None else np.full(len(z), args.label or 0)
    which = "" if k is None else f", label {args.label or 0}"
    what = f"seeds {' '.join(map(str, args.seeds))}{which}, {mode}"
    return generate(G, z, labels=labels), len(args.seeds), what


def _vae_path(G: nn.Module, config, args: argparse.Namespace) -> tuple[np.ndarray, int, str]:
    """The decoder's images along the path through the encoder's means of ``args.images``."""
    from minigan.checkpoint import load_checkpoint, load_module_state
    from minigan.config import FAKE_DATA
    from minigan.data import load_dataset
    from minigan.data.loader import as_nchw, to_unit_range
    from minigan.models import build
    from minigan.training_data import load_images
    from minigan.vae import encode_mean

    ckpt = load_checkpoint(args.checkpoint, parts=("D",))
    dtype = G.dtype or np.dtype(np.float32)
    _, D = build(config.model, config.z_dim, dtype, np.random.default_rng(0),
                 image_shape=config.image_shape)  # fmt: skip
    load_module_state(D, ckpt.tensors["D"], f"D.safetensors does not fit a {config.model} encoder")
    D.to(_device(G))
    if config.data == FAKE_DATA:
        data, split = load_images(config)[0], "dry run's random images"
    else:
        download = not args.no_download
        data = load_dataset(config.data, "test", data_dir=args.data_dir, download=download)[0]
        split = f"{config.data} test split"
    for i in args.images:
        if i >= len(data):
            raise ValueError(f"--images: image {i} is not one of the {len(data)} of the {split}")
    x = to_unit_range(as_nchw(data[np.array(args.images)])).astype(dtype, copy=False)
    mode = args.mode
    z = path(encode_mean(D, x), args.steps, mode)
    what = f"images {' '.join(map(str, args.images))} of the {split}, {mode}"
    return generate(G, z), len(args.images), what


def _device(G: nn.Module) -> str:
    return backend.device_of(G.parameters()[0].data)


def generate_embedded(
    G: nn.ConditionalGenerator, z: np.ndarray, e: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """A conditional ``G`` in eval mode on noise ``z`` (N, z_dim) and label embeddings ``e``
    (N, E), in chunks of ``batch_size``: NumPy images (N, C, H, W); G's mode is restored."""
    was_training, device = G.training, _device(G)
    z, e = backend.to_device(z, device), backend.to_device(e, device)
    G.eval()
    try:
        return np.concatenate([
            backend.to_numpy(G.forward_embedded(z[i : i + batch_size], e[i : i + batch_size]))
            for i in range(0, len(z), batch_size)
        ])  # fmt: skip
    finally:
        G.train(was_training)


def _write(images: np.ndarray, points: int, args: argparse.Namespace) -> int:
    """A strip PNG for two points, else a GIF of one image per frame; the images written."""
    from minigan.viz import make_grid, save_gif, save_image_grid

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if points == 2:
        save_image_grid(images, out, nrow=len(images), scale=args.scale)
        return len(images)
    values = args.labels or args.images or args.seeds
    if values[0] == values[-1]:  # a closed loop: the last frame is the first one again
        images = images[:-1]
    frames = [make_grid(image[None], nrow=1).repeat(args.scale, 0).repeat(args.scale, 1)
              for image in images]  # fmt: skip
    save_gif(frames, out, seconds_per_frame=1 / args.fps, hold_last=1 / args.fps)
    return len(frames)
