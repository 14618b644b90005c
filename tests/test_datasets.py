"""Dataset search order, downloads from a loopback server, checksums and error messages.

Every test runs with ``$HOME``, ``$XDG_CACHE_HOME``, ``$MINIGAN_DATA`` and the system data
directory pointed into ``tmp_path``, so nothing reads ``/usr/share`` or ``~/.cache`` and
nothing leaves the machine.
"""

import hashlib
import re
import socket
import threading
import urllib.error
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import numpy as np
import pytest

from minigan.data import datasets
from minigan.data.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    cache_dir,
    load_dataset,
    search_dirs,
)
from minigan.data.idx import write_idx

PROXY_VARS = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolate every location the dataset search looks at."""
    dirs = SimpleNamespace(
        home=tmp_path / "home",
        cache=tmp_path / "xdg-cache",
        system=tmp_path / "system",
        minigan_data=tmp_path / "minigan-data",
        data_dir=tmp_path / "data-dir",
    )
    monkeypatch.setenv("HOME", str(dirs.home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs.cache))
    for var in ["MINIGAN_DATA", "MINIGAN_DATA_URL", *PROXY_VARS]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", dirs.system)
    return dirs


def write_split(directory, split="train", n=6, fill=0, gz=True, images=None, labels=None):
    """Write a small split whose pixels and labels all equal ``fill``."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    images_file, labels_file = datasets.SPLITS[split]
    if images is None:
        images = np.full((n, 28, 28), fill, dtype=np.uint8)
    if labels is None:
        labels = np.full(n, fill, dtype=np.uint8)
    write_idx(directory / (images_file + suffix), images)
    write_idx(directory / (labels_file + suffix), labels)


# --- local copies ---------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_directory(env, tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 9, dtype=np.uint8)
    write_split(tmp_path / "mine", "test", images=images, labels=labels, gz=gz)
    for name_or_dir in [tmp_path / "mine", str(tmp_path / "mine")]:
        got_images, got_labels = load_dataset(name_or_dir, split="test")
        assert got_images.dtype == np.uint8 and got_images.shape == (9, 28, 28)
        assert got_labels.dtype == np.uint8 and got_labels.shape == (9,)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)


def test_directory_prefers_raw_files_to_gz(env, tmp_path):
    write_split(tmp_path / "both", fill=1, gz=True)
    write_split(tmp_path / "both", fill=2, gz=False)
    assert load_dataset(tmp_path / "both")[1][0] == 2


def test_directory_without_split_files(env, tmp_path):
    write_split(tmp_path / "only-train", "train")
    with pytest.raises(DatasetNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\]"):
        load_dataset(tmp_path / "only-train", split="test")


def test_unknown_name_is_not_found(env):
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist, mnist"):
        load_dataset("kmnist-typo")


def test_unknown_split(env):
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_dataset("mnist", split="validation")


def test_search_order(env, monkeypatch):
    name = "fashion-mnist"
    places = [
        env.data_dir / name,
        env.data_dir,
        env.minigan_data / name,
        env.cache / "minigan" / name,
        env.system / name,
    ]
    for fill, place in enumerate(places, start=1):
        write_split(place, fill=fill)
    monkeypatch.setenv("MINIGAN_DATA", str(env.minigan_data))
    for fill, place in enumerate(places, start=1):
        _, labels = load_dataset(name, data_dir=env.data_dir, download=False)
        assert labels[0] == fill, f"expected the copy in {place}"
        for stem in datasets.SPLITS["train"]:
            (place / (stem + ".gz")).unlink()
    with pytest.raises(DatasetNotFoundError):
        load_dataset(name, data_dir=env.data_dir, download=False)


def test_search_dirs_lists_locations_in_order(env, monkeypatch):
    monkeypatch.setenv("MINIGAN_DATA", str(env.minigan_data))
    assert search_dirs("mnist", env.data_dir) == [
        (env.data_dir / "mnist", "data_dir"),
        (env.data_dir, "data_dir"),
        (env.minigan_data / "mnist", "$MINIGAN_DATA"),
        (env.cache / "minigan" / "mnist", "cache"),
        (env.system / "mnist", "system"),
    ]
    monkeypatch.delenv("MINIGAN_DATA")
    assert [d for d, _ in search_dirs("mnist")] == [
        env.cache / "minigan/mnist",
        env.system / "mnist",
    ]


def test_cache_dir_defaults_to_home_cache(env, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == env.home / ".cache" / "minigan"
    write_split(env.home / ".cache" / "minigan" / "mnist", fill=7)
    assert load_dataset("mnist", download=False)[1][0] == 7


def test_name_is_case_insensitive(env):
    write_split(env.system / "mnist", fill=3)
    assert load_dataset("MNIST", download=False)[1][0] == 3


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((4, 28, 0), np.uint8), np.zeros(4, np.uint8), r"\(N, H, W\)"),
        (np.zeros((4, 28, 28), np.int16), np.zeros(4, np.uint8), "int16"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), r"labels of shape \(N,\)"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(5, np.uint8), "4 images but .* 5 labels"),
    ],
)
def test_validation(env, tmp_path, images, labels, message):
    write_split(tmp_path / "bad", images=images, labels=labels)
    with pytest.raises(ValueError, match=message):
        load_dataset(tmp_path / "bad")


# --- not found ------------------------------------------------------------------------


def test_not_found_lists_places_and_three_ways(env):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", data_dir=env.data_dir, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for place in [
        env.data_dir / "fashion-mnist",
        env.data_dir,
        env.cache / "minigan" / "fashion-mnist",
        env.system / "fashion-mnist",
    ]:
        assert f"{place} (" in message
    assert "$MINIGAN_DATA is not set" in message
    assert "not attempted (download=False)" in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "$MINIGAN_DATA/fashion-mnist" in message
    assert "--data-dir" in message
    assert "allow the download" in message
    assert datasets.BASE_URLS["fashion-mnist"] in message
    assert re.search(r"^  3\. ", message, re.MULTILINE)


def test_not_found_for_mnist_has_no_apt_way(env):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", download=False)
    message = str(info.value)
    assert "apt-get" not in message
    assert "$MINIGAN_DATA/mnist" in message and "allow the download" in message


def test_network_failure_is_not_found(env, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MINIGAN_DATA_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(
        DatasetNotFoundError, match="apt-get install -y dataset-fashion-mnist"
    ) as info:
        load_dataset("fashion-mnist")
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert f"127.0.0.1:{port}" in str(info.value)


# --- downloads from a loopback server -------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / "served"`` over HTTP on 127.0.0.1; record the requested paths."""
    root = tmp_path / "served"
    root.mkdir()
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{httpd.server_port}/", root=root, requests=requests
    )
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def serve_split(server, monkeypatch, name, split="test", fill=5, wrong_sha_for=None):
    """Put a split's .gz files on the server and their SHA-256 in the checksum table."""
    write_split(server.root, split, fill=fill)
    table = dict(datasets.SHA256[name])
    for path in server.root.glob("*.gz"):
        table[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    if wrong_sha_for is not None:
        table[wrong_sha_for] = "0" * 64
    monkeypatch.setitem(datasets.SHA256, name, table)


def test_download_via_env_url(env, server, monkeypatch, capsys):
    serve_split(server, monkeypatch, "fashion-mnist", fill=5)
    monkeypatch.setenv("MINIGAN_DATA_URL", server.url.rstrip("/"))
    images, labels = load_dataset("fashion-mnist", split="test")
    assert images.shape == (6, 28, 28) and (labels == 5).all() and (images == 5).all()
    target = env.cache / "minigan" / "fashion-mnist"
    assert sorted(p.name for p in target.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert sorted(server.requests) == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]
    assert "downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err
    load_dataset("fashion-mnist", split="test")
    assert len(server.requests) == 2, "the second load must come from the cache"


def test_download_via_base_url_table(env, server, monkeypatch):
    serve_split(server, monkeypatch, "mnist", split="train", fill=9)
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", server.url)
    _, labels = load_dataset("mnist")
    assert (labels == 9).all()
    assert (env.cache / "minigan" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()


def test_checksum_mismatch_deletes_download(env, server, monkeypatch):
    serve_split(server, monkeypatch, "mnist", wrong_sha_for="t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("MINIGAN_DATA_URL", server.url)
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256 .* 0{64}"):
        load_dataset("mnist", split="test")
    target = env.cache / "minigan" / "mnist"
    assert [p.name for p in target.iterdir()] == ["t10k-images-idx3-ubyte.gz"]


def test_missing_file_on_server_is_not_found(env, server, monkeypatch):
    monkeypatch.setenv("MINIGAN_DATA_URL", server.url)
    with pytest.raises(DatasetNotFoundError, match="404"):
        load_dataset("mnist")
    assert not (env.cache / "minigan").exists()


def test_download_rejects_unknown_name(env):
    with pytest.raises(ValueError, match="unknown dataset 'emnist'"):
        datasets.download_dataset("emnist")


def test_checksum_table_covers_every_file():
    files = {stem + ".gz" for pair in datasets.SPLITS.values() for stem in pair}
    assert set(datasets.SHA256) == set(datasets.BASE_URLS) == {"fashion-mnist", "mnist"}
    for table in datasets.SHA256.values():
        assert set(table) == files
        assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in table.values())
