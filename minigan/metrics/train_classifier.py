"""Train the classifier of :mod:`minigan.metrics` with minigan's own layers, loss, optimizer and
data loader, and write its weights; ``python -m minigan.metrics.train_classifier --help``.

The shipped ``classifier.safetensors`` is what this module writes with its defaults::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        python -m minigan.metrics.train_classifier --backend numba \\
        --out minigan/metrics/classifier.safetensors

and it prints the test accuracy (0.9262) and the file's SHA-256, which must equal
:data:`minigan.metrics.classifier.SHA256`. Two runs of that command gave the same bytes (787 s and
855 s of training on one core of a shared AMD EPYC). The same bytes need the same seed, backend
and thread counts (BLAS and Numba split their sums by thread, so another count may round
differently) and the same NumPy and BLAS builds.

The recipe: Adam (lr 1e-3, halved after every epoch), batches of 128 from
:class:`minigan.data.BatchIterator` (seeded shuffling, images in [-1, 1]), mean softmax
cross-entropy on the logits, no augmentation. ``np.random.SeedSequence(seed).spawn(3)`` gives
the generators of the weights, the data order and the Dropout masks.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
>>> model, log = train(images, rng.integers(0, 10, 64), epochs=1, batch_size=32, quiet=True)
>>> [sorted(row) for row in log]
[['epoch', 'loss', 'lr', 'seconds', 'train_accuracy']]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from minigan import backend
from minigan.data import BatchIterator, load_dataset
from minigan.functional.losses import softmax_cross_entropy
from minigan.metrics.classifier import Classifier, build_classifier
from minigan.nn import Sequential
from minigan.optim import Adam
from minigan.serialization import save_bytes

EPOCHS = 5
BATCH = 128
LR = 1e-3
DECAY = 0.5  # the learning rate is multiplied by this after every epoch


def accuracy(model: Sequential, images: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``images`` (uint8 (N, 28, 28)) whose predicted class is ``labels``."""
    predicted = Classifier(model).classify(images)
    model.train()
    return float(np.mean(predicted == labels))


def train(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    lr: float = LR,
    seed: int = 0,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    quiet: bool = False,
) -> tuple[Sequential, list[dict[str, float]]]:
    """Train a fresh classifier on ``images`` (uint8 (N, 28, 28)) and ``labels`` (N,) for
    ``epochs``; returns it (in eval mode) and one log row per epoch (mean loss, accuracy on the
    training batches, and on ``test`` if given)."""
    init_rng, order_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    model = build_classifier(init_rng, dropout_rng)
    optimizer = Adam(model.parameters(), lr=lr)
    loader = BatchIterator(images, np.asarray(labels), batch_size, rng=order_rng)
    log = []
    for epoch in range(1, epochs + 1):
        start, losses, correct, seen = time.perf_counter(), [], 0, 0
        model.train()
        for x, y in loader:
            logits = model.forward(x)
            loss, d_logits = softmax_cross_entropy(logits, y)
            optimizer.zero_grad()
            model.backward_params(d_logits)
            optimizer.step()
            losses.append(loss)
            correct += int((logits.argmax(axis=1) == y).sum())
            seen += len(y)
        row = {
            "epoch": epoch,
            "lr": optimizer.lr,
            "loss": float(np.mean(losses)),
            "train_accuracy": correct / seen,
            "seconds": round(time.perf_counter() - start, 1),
        }
        if test is not None:
            row["test_accuracy"] = accuracy(model, *test)
        log.append(row)
        if not quiet:
            print(json.dumps(row), file=sys.stderr, flush=True)
        optimizer.lr *= DECAY
    return model.eval(), log


def weights_bytes(model: Sequential, metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of ``model``'s state (float32 weights, BatchNorm statistics)."""
    return save_bytes(model.state_dict(), metadata)


def main(argv: Sequence[str] | None = None) -> int:
    """Train on the Fashion-MNIST training set, report test accuracy, write ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.train_classifier", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=sorted(backend.BACKENDS), default="numba")
    parser.add_argument("--data-dir", default=None, help="searched first for fashion-mnist")
    args = parser.parse_args(argv)
    backend.use(args.backend)
    images, labels = load_dataset("fashion-mnist", "train", args.data_dir)
    test_images, test_labels = load_dataset("fashion-mnist", "test", args.data_dir)
    model, log = train(images, labels, epochs=args.epochs, seed=args.seed)
    test_accuracy = accuracy(model.eval(), test_images, test_labels)
    metadata = {
        "name": "minigan Fashion-MNIST classifier",
        "recipe": f"seed={args.seed} epochs={args.epochs} batch={BATCH} adam lr={LR} decay={DECAY}",
        "test_accuracy": f"{test_accuracy:.4f}",
    }
    data = weights_bytes(model, metadata)
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    seconds = sum(row["seconds"] for row in log)
    print(
        json.dumps(
            {
                "test_accuracy": test_accuracy,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "train_seconds": round(seconds, 1),
                "backend": args.backend,
                "epochs": log,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
