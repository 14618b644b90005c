"""Find, download and load the 28x28 image datasets ``"fashion-mnist"`` and ``"mnist"``.

:func:`load_dataset` takes a dataset name or a directory holding the standard IDX files
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each raw or with ``.gz``). For a name it searches, in order:

1. the ``data_dir`` argument (``data_dir/<name>``, then ``data_dir`` itself);
2. ``$MINIGAN_DATA/<name>``;
3. the cache, ``$XDG_CACHE_HOME/minigan/<name>`` or ``~/.cache/minigan/<name>``;
4. ``SYSTEM_DATA_DIR/<name>``, i.e. ``/usr/share/datasets/<name>``, where Debian's
   ``dataset-fashion-mnist`` package installs Fashion-MNIST;
5. a download from ``BASE_URLS[name]`` (or ``$MINIGAN_DATA_URL``) into the cache, each
   file checked against its official SHA-256 in ``SHA256``.

Local copies are not checksummed (Debian recompresses its files, so their digests differ
from the official ones); their content is checked by the IDX reader and by shape.

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from minigan.data import load_dataset, write_idx
>>> with tempfile.TemporaryDirectory() as tmp:
...     write_idx(Path(tmp) / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
...     write_idx(Path(tmp) / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
...     images, labels = load_dataset(tmp, split="test")
>>> images.shape, images.dtype, labels.tolist()
((5, 28, 28), dtype('uint8'), [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from minigan.data.idx import read_idx

__all__ = [
    "BASE_URLS",
    "DATASET_NAMES",
    "SHA256",
    "SPLITS",
    "SYSTEM_DATA_DIR",
    "ChecksumError",
    "DatasetNotFoundError",
    "cache_dir",
    "download_dataset",
    "load_dataset",
    "search_dirs",
]

#: Where distribution packages put datasets (Debian: ``dataset-fashion-mnist``).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")

#: Official download location of each dataset; ``$MINIGAN_DATA_URL`` overrides it.
BASE_URLS: dict[str, str] = {
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
}

#: SHA-256 of each official ``.gz`` file, as served from ``BASE_URLS`` (the digests
#: published with TensorFlow Datasets). Debian's copies are recompressed, so they differ.
SHA256: dict[str, dict[str, str]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
}

DATASET_NAMES: tuple[str, ...] = tuple(BASE_URLS)

#: Split name -> (images file, labels file), without the optional ``.gz``.
SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_APT_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}
_CHUNK = 1 << 16


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset was found; the message lists where we looked and how to get it."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the official one."""


def load_dataset(
    name_or_dir: str | os.PathLike,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a dataset as ``(images, labels)``.

    Parameters
    ----------
    name_or_dir
        ``"fashion-mnist"`` or ``"mnist"`` (searched for as described in the module
        docstring), or a directory holding the split's two IDX files.
    split
        ``"train"`` (60000 images for both datasets) or ``"test"`` (10000).
    data_dir
        Directory searched first for a named dataset.
    download
        Whether a named dataset found nowhere may be downloaded into :func:`cache_dir`.

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` ``(N, H, W)`` (``(N, 28, 28)`` for the named datasets), or ``(N, H, W, C)``
        for colour images in an IDX directory.
    labels : numpy.ndarray
        ``(N,)`` ``uint8``.

    Raises
    ------
    DatasetNotFoundError
        If no copy is found and none could be downloaded.
    ChecksumError
        If a downloaded file does not match its official SHA-256.
    ValueError
        If ``split`` is unknown or the files hold arrays of the wrong shape or dtype.
    """
    files = _split_files(split)
    name = _dataset_name(name_or_dir)
    if name is None:
        directory = Path(name_or_dir)
        paths = _find_files(directory, files)
        if paths is None:
            raise DatasetNotFoundError(_missing_dir_message(directory, files))
        return _load_pair(*paths)
    searched = []
    for directory, label in search_dirs(name, data_dir):
        paths = _find_files(directory, files)
        if paths is not None:
            return _load_pair(*paths)
        searched.append(f"{directory} ({label})")
    if not download:
        note = "not attempted (download=False)"
        raise DatasetNotFoundError(_not_found_message(name, split, searched, note))
    try:
        paths = download_dataset(name, split)
    except OSError as exc:
        raise DatasetNotFoundError(_not_found_message(name, split, searched, str(exc))) from exc
    return _load_pair(*paths)


def search_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Return the directories searched for dataset ``name``, in order, with a description.

    ``$MINIGAN_DATA`` is skipped when unset.
    """
    dirs = []
    if data_dir is not None:
        dirs += [(Path(data_dir) / name, "data_dir"), (Path(data_dir), "data_dir")]
    if os.environ.get("MINIGAN_DATA"):
        dirs.append((Path(os.environ["MINIGAN_DATA"]) / name, "$MINIGAN_DATA"))
    dirs.append((cache_dir() / name, "cache"))
    dirs.append((SYSTEM_DATA_DIR / name, "system"))
    return dirs


def cache_dir() -> Path:
    """Return minigan's cache root: ``$XDG_CACHE_HOME/minigan``, else ``~/.cache/minigan``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "minigan"


def download_dataset(name: str, split: str = "train") -> tuple[Path, Path]:
    """Download a split's two ``.gz`` files into ``cache_dir() / name``; return their paths.

    Files already in the cache are kept. Each download goes to a temporary file that is
    checked against ``SHA256`` and then renamed into place, with progress on stderr.

    Raises
    ------
    ChecksumError
        On a SHA-256 mismatch (the temporary file is deleted).
    ValueError
        If ``name`` is not in ``DATASET_NAMES`` or ``split`` not in ``SPLITS``.
    OSError
        On network failure (``urllib.error.URLError`` is an ``OSError``).
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    base = os.environ.get("MINIGAN_DATA_URL") or BASE_URLS[name]
    target = cache_dir() / name
    paths = []
    for stem in _split_files(split):
        filename = stem + ".gz"
        dest = target / filename
        if not dest.exists():
            _download(base.rstrip("/") + "/" + filename, dest, SHA256[name][filename])
        paths.append(dest)
    return paths[0], paths[1]


def _download(url: str, dest: Path, sha256: str) -> None:
    """Fetch ``url`` to ``dest`` through a verified temporary file and an atomic rename."""
    with urllib.request.urlopen(url, timeout=60) as response:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _copy_with_progress(response, out, dest.name)
            if digest != sha256:
                raise ChecksumError(
                    f"{url}: SHA-256 {digest} does not match the expected {sha256}; "
                    "the download was deleted (corrupt transfer or changed file)"
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def _copy_with_progress(response, out, label: str) -> str:
    """Copy an HTTP response to ``out``, printing progress on stderr; return the SHA-256."""
    total = int(response.headers.get("Content-Length") or 0)
    digest, done = hashlib.sha256(), 0
    while chunk := response.read(_CHUNK):
        out.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        of_total = f" / {total / 1e6:.1f} MB ({100 * done // total}%)" if total else " MB"
        print(f"\rdownloading {label}: {done / 1e6:.1f}{of_total}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return digest.hexdigest()


def _dataset_name(name_or_dir: str | os.PathLike) -> str | None:
    """Return the dataset name ``name_or_dir`` spells, or None if it is not one."""
    if isinstance(name_or_dir, str) and name_or_dir.lower() in DATASET_NAMES:
        return name_or_dir.lower()
    return None


def _split_files(split: str) -> tuple[str, str]:
    """Return the (images, labels) file stems of ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    return SPLITS[split]


def _find_files(directory: Path, stems: tuple[str, str]) -> tuple[Path, Path] | None:
    """Return the paths of both files in ``directory`` (raw preferred to ``.gz``), or None."""
    found = []
    for stem in stems:
        candidates = [directory / stem, directory / (stem + ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def _load_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate an images file and its labels file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or 0 in images.shape:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, H, W) or (N, H, W, C), "
            f"found {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (N,), found {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels


def _missing_dir_message(directory: Path, stems: tuple[str, str]) -> str:
    """Explain that ``directory`` is neither a dataset name nor a directory with the files."""
    files = " and ".join(f"{s}[.gz]" for s in stems)
    return (
        f"{str(directory)!r} is not a known dataset ({', '.join(DATASET_NAMES)}) "
        f"and not a directory holding {files}"
    )


def _not_found_message(name: str, split: str, searched: list[str], download: str) -> str:
    """Build the message listing every place searched and the ways to get the data."""
    files = ", ".join(f"{s}.gz" for stem in SPLITS.values() for s in stem)
    url = os.environ.get("MINIGAN_DATA_URL") or BASE_URLS[name]
    ways = []
    if name in _APT_PACKAGES:
        ways.append(
            f"install the Debian package: apt-get install -y {_APT_PACKAGES[name]} "
            f"(puts the files in {SYSTEM_DATA_DIR / name})"
        )
    ways += [
        f"put the files ({files}) in $MINIGAN_DATA/{name}, "
        "or in any directory and pass --data-dir DIR (data_dir=DIR)",
        f"allow the download (network access to {url}; download=True, no --no-download)",
    ]
    lines = [f"dataset {name!r} (split {split!r}) not found. Searched, in order:"]
    lines += [f"  - {place}" for place in searched]
    lines.append(f"  - download from {url}: {download}")
    if not os.environ.get("MINIGAN_DATA"):
        lines.append(f"($MINIGAN_DATA is not set, so $MINIGAN_DATA/{name} was not searched.)")
    lines.append("Ways to get it:")
    lines += [f"  {i}. {way}" for i, way in enumerate(ways, 1)]
    return "\n".join(lines)
