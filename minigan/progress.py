"""Reporting a run as it goes: a small progress bar, the ``metrics.jsonl`` log and the pictures.

:class:`ProgressBar` redraws one line on a terminal (iteration ``k/N``, rate, ETA and the
metrics); when its stream is not a terminal (a log file, CI) it prints a full line every
``log_every`` iterations instead. :class:`RunFiles` writes everything of a run directory but the
checkpoint: one JSON object per iteration in ``metrics.jsonl``, the grids, the plot and the GIF;
when a run is resumed, :func:`truncate_metrics` drops the lines written after its checkpoint.

>>> import io
>>> bar = ProgressBar(total=4, stream=io.StringIO(), log_every=2)
>>> bar.update(2, {"loss_D": 1.25, "loss_G": 0.5, "D_x": 0.6, "D_G_z": 0.4})
>>> bar.stream.getvalue().split("|")[1]
' loss_D 1.250 loss_G 0.500 D(x) 0.600 D(G(z)) 0.400\\n'
>>> format_duration(3725)
'1:02:05'
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from minigan.rundir import RunLock, lock_run_dir, run_dir_of
from minigan.vae import plot_elbo
from minigan.viz import plot_training, save_gif, save_image_grid

__all__ = [
    "METRIC_LABELS",
    "ProgressBar",
    "RunFiles",
    "epoch_means",
    "format_duration",
    "read_metrics",
    "resume_history",
    "truncate_metrics",
]

#: metrics.jsonl key -> how the progress bar labels it.
METRIC_LABELS: dict[str, str] = {
    "loss_D": "loss_D",
    "loss_G": "loss_G",
    "D_x": "D(x)",
    "D_G_z": "D(G(z))",
    "wasserstein": "W",
    "penalty": "GP",
    "loss": "-ELBO",  # a VAE (elbo): the negative ELBO per image and its two terms, in nats
    "recon": "recon",
    "kl": "KL",
}


def epoch_means(records: Sequence[Mapping[str, float]]) -> str:
    """The mean of each step value over ``records`` (an epoch's), as the bar labels them."""
    return " ".join(
        f"{label} {np.mean([r[key] for r in records]):.3f}"
        for key, label in METRIC_LABELS.items()
        if key in records[-1]
    )


def format_duration(seconds: float) -> str:
    """``MM:SS`` below an hour, else ``H:MM:SS``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Iteration ``k/N``, iterations per second, ETA and the latest metrics, on ``stream``.

    ``initial`` is the iteration a resumed run starts from (the rate counts only the iterations
    run by this process). On a terminal the line is redrawn at most every ``min_interval``
    seconds; elsewhere a line is printed every ``log_every`` iterations and at the last one.
    ``enabled=False`` prints nothing.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        stream: TextIO | None = None,
        log_every: int = 50,
        enabled: bool = True,
        min_interval: float = 0.1,
    ) -> None:
        self.total, self.initial = total, initial
        self.stream = sys.stderr if stream is None else stream
        self.log_every, self.enabled, self.min_interval = log_every, enabled, min_interval
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_draw = -float("inf")
        self._line = ""

    def update(self, iteration: int, metrics: Mapping[str, float]) -> None:
        """Report that ``iteration`` (counted from 1) has finished with ``metrics``."""
        if not self.enabled:
            return
        now = time.perf_counter()
        last = iteration >= self.total
        if self.tty:
            if last or now - self._last_draw >= self.min_interval:
                self._line = self._format(iteration, metrics, now)
                self.stream.write("\r" + self._line + "\x1b[K")
                self.stream.flush()
                self._last_draw = now
        elif iteration % self.log_every == 0 or last:
            self.stream.write(self._format(iteration, metrics, now) + "\n")
            self.stream.flush()

    def write(self, message: str) -> None:
        """Print ``message`` on its own line without garbling the bar."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\x1b[K" + message + "\n" + self._line)
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self.tty and self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""

    def _format(self, iteration: int, metrics: Mapping[str, float], now: float) -> str:
        width = len(str(self.total))
        done = iteration - self.initial
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
        eta = format_duration((self.total - iteration) / rate) if rate else "--:--"
        speed = f"{rate:.2f} it/s" if rate >= 1 or rate == 0 else f"{1 / rate:.2f} s/it"
        filled = 20 * iteration // max(self.total, 1)
        values = " ".join(
            f"{label} {metrics[key]:.3f}" for key, label in METRIC_LABELS.items() if key in metrics
        )
        return (
            f"{iteration:>{width}}/{self.total} [{'#' * filled}{'.' * (20 - filled)}] "
            f"{speed} ETA {eta} | {values}"
        )


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``, in order; a final half-written line is skipped.

    Raises ``ValueError`` naming the file and line for any other line that is not a JSON
    object with a non-negative integer ``iteration``.
    """
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines):  # the run was killed while writing this line
                break
            raise ValueError(f"{path}, line {number}: not valid JSON: {line[:80]!r}") from None
        if not _is_record(record):
            raise ValueError(
                f"{path}, line {number}: expected a JSON object with a non-negative integer "
                f"iteration and numbers for values, got {line[:80]!r}"
            )
        records.append(record)
    return records


#: The values of a step that every record holds as finite numbers (the run stops otherwise).
_STEP_KEYS = ("epoch", *METRIC_LABELS, "seconds")


def _is_record(record: Any) -> bool:
    """Whether ``record`` could come from :meth:`RunFiles.log`: a dict with a non-negative
    integer ``iteration``, finite numbers for the step's values, numbers or null elsewhere."""

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if not isinstance(record, dict):
        return False
    iteration = record.get("iteration")
    if not (isinstance(iteration, int) and number(iteration) and iteration >= 0):
        return False
    return all(
        number(v) and (isinstance(v, int) or math.isfinite(v))
        if k in _STEP_KEYS
        else v is None or number(v)
        for k, v in record.items()
    )


def _history(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` as the history a resumed run continues: each with ``epoch``, ``loss_D`` and
    ``loss_G`` (a VAE's: ``loss``), all with the same step values (a run's game does not
    change); a ``ValueError`` naming the file and the iteration otherwise."""
    for record in records:
        keys = set(record) & set(METRIC_LABELS)
        losses = {"loss"} if "loss" in record else {"loss_D", "loss_G"}
        if not {"epoch", *losses} <= set(record) or keys != set(records[0]) & set(METRIC_LABELS):
            raise ValueError(
                f"{path}: the record of iteration {record['iteration']} is not one of this run "
                f"(expected epoch, loss_D and loss_G or a VAE's loss, and the values of the "
                f"first record): {record}"
            )
    return records


def truncate_metrics(path: str | os.PathLike[str], keep_until: int) -> list[dict[str, Any]]:
    """Drop the records after iteration ``keep_until`` from ``metrics.jsonl`` (atomically) and
    return those kept: what a resumed run does with the lines its predecessor wrote after its
    last checkpoint, so that its file equals that of a run that never stopped."""
    path = Path(path)
    if not path.exists():
        return []
    records = _history(path, [r for r in read_metrics(path) if r["iteration"] <= keep_until])
    _write_records(path, records)
    return records


def _write_records(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``path`` by ``records``, one JSON line each, atomically (a temporary, then a
    rename; the temporary is removed if writing fails)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text("".join(_json_line(r) for r in records), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_line(record: Mapping[str, Any]) -> str:
    """``record`` as one line of strict JSON: a non-finite float (never a step's value: a run
    stops at those, :mod:`minigan.guards`) is written as null, not as the invalid ``NaN``."""
    safe = {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }
    return json.dumps(safe, allow_nan=False) + "\n"


def resume_history(
    files: RunFiles, checkpoint_dir: str | os.PathLike[str], iteration: int
) -> list[dict[str, Any]]:
    """The records a run resumed at ``iteration`` from ``checkpoint_dir`` into ``files``'s
    directory starts with. In the checkpoint's own run (:func:`minigan.rundir.run_dir_of`),
    ``metrics.jsonl`` loses its lines after the checkpoint (:func:`truncate_metrics`). In a new
    run directory it starts with the records of the checkpoint's run up to ``iteration``; a
    checkpoint outside any run brings none."""
    own = run_dir_of(checkpoint_dir)
    if own is not None and own.resolve() == files.out.resolve():
        return truncate_metrics(files.metrics, keep_until=iteration)
    source = None if own is None else own / "metrics.jsonl"
    records = [] if source is None or not source.exists() else read_metrics(source)
    records = _history(source, [r for r in records if r["iteration"] <= iteration])
    files.out.mkdir(parents=True, exist_ok=True)
    _write_records(files.metrics, records)
    return records


class RunFiles:
    """The files of a run directory besides ``checkpoint/``:

    ``metrics.jsonl`` (one record per iteration), ``frames/iter_<iteration>.png`` (the
    fixed-noise grid every few iterations, the frames of the GIF), ``samples/epoch_<epoch>.png``
    (the grid after every epoch; for a VAE also ``samples/reconstructions_epoch_<epoch>.png``), ``training.png`` (:func:`~minigan.viz.plot_training`) and
    ``training.gif``. Without matplotlib or Pillow it warns once and then skips the pictures;
    ``pictures=False`` skips them silently.
    """

    def __init__(self, out: str | os.PathLike[str], pictures: bool = True) -> None:
        self.out = Path(out)
        self.metrics = self.out / "metrics.jsonl"
        self.pictures = pictures
        self.nrow: int | None = None  # images per grid row; None: a square grid
        self._plotted: tuple[int, int] | None = None
        self.lock: RunLock | None = None

    def locked(self) -> RunFiles:
        """Take the run directory's lock (:func:`minigan.rundir.lock_run_dir`: a clear error
        when another process holds it; leftovers of an interrupted run removed) and return
        self. The lock is kept as long as this object, or the process, lives."""
        self.lock = lock_run_dir(self.out)
        return self

    def log(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` to ``metrics.jsonl`` as one JSON line (opened, written, closed:
        the line is on disk before the next iteration starts)."""
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.metrics, "a", encoding="utf-8") as f:
            f.write(_json_line(record))

    def frame(self, images: Callable[[], np.ndarray], iteration: int) -> None:
        """Save ``images()`` (N, C, H, W) in [-1, 1] as ``frames/iter_<iteration>.png``
        (``images`` is called only when pictures are on)."""
        self._grid(images, self.out / "frames" / f"iter_{iteration:07d}.png")

    def epoch_grid(self, images: Callable[[], np.ndarray], epoch: int) -> None:
        """Save ``images()`` as ``samples/epoch_<epoch>.png``."""
        self._grid(images, self.out / "samples" / f"epoch_{epoch:03d}.png")

    def reconstructions(self, images: Callable[[], np.ndarray], epoch: int) -> None:
        """Save a VAE's ``images()`` (rows of 8 training images, each followed by a row of their
        reconstructions) as ``samples/reconstructions_epoch_<epoch>.png``."""
        path = self.out / "samples" / f"reconstructions_epoch_{epoch:03d}.png"
        if self.pictures:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._picture(save_image_grid, images(), path, 8, scale=2)

    def plot(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Redraw ``training.png`` from the records so far (unless it shows them already): the
        game's curves, or a VAE's (:func:`minigan.vae.plot_elbo`)."""
        if history and self._plotted != (len(history), history[-1]["iteration"]):
            draw = plot_elbo if "loss" in history[-1] else plot_training
            self._picture(draw, history, self.out / "training.png")
            self._plotted = (len(history), history[-1]["iteration"])

    def gif(self) -> None:
        """Animate every frame so far, in iteration order, into ``training.gif``."""
        frames = sorted((self.out / "frames").glob("iter_*.png"))
        if frames:
            self._picture(save_gif, frames, self.out / "training.gif")

    def _grid(self, images: Callable[[], np.ndarray], path: Path) -> None:
        if not self.pictures:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        grid = images()
        nrow = self.nrow or math.ceil(math.sqrt(len(grid)))
        self._picture(save_image_grid, grid, path, nrow, scale=2)

    def _picture(self, draw: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not self.pictures:
            return
        try:
            draw(*args, **kwargs)
        except ImportError as exc:
            self.pictures = False
            warnings.warn(f"{exc}; training goes on without pictures", stacklevel=3)
        except OSError:  # a full disk: leave no temporary behind (viz writes .<name>.<pid>.tmp)
            target = Path(args[1])  # every drawing function takes (what, path, ...)
            for tmp in target.parent.glob(f".{target.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
            raise
