"""BatchIterator: shapes, scaling, seeded shuffling, epoch coverage and mid-epoch resume."""

import numpy as np
import pytest

from minigan.data.loader import BatchIterator, to_uint8, to_unit_range

N = 23


@pytest.fixture
def data():
    """Images whose every pixel equals the image index, so batches reveal their indices."""
    images = np.broadcast_to(np.arange(N, dtype=np.uint8)[:, None, None], (N, 28, 28)).copy()
    labels = (np.arange(N) % 10).astype(np.uint8)
    return images, labels


def indices_of(x):
    """Recover image indices from a batch of the ``data`` fixture."""
    return to_uint8(x)[:, 0, 0, 0].astype(int)


def make(data, seed=0, batch_size=5, **kwargs):
    return BatchIterator(*data, batch_size, np.random.default_rng(seed), **kwargs)


def epoch_indices(loader):
    return [indices_of(x).tolist() for x, _ in loader]


def test_batch_shapes_dtypes_and_range(data):
    loader = make(data)
    batches = list(loader)
    assert len(batches) == len(loader) == N // 5
    for x, y in batches:
        assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
        assert y.shape == (5,) and y.dtype == np.int64
        assert x.min() >= -1.0 and x.max() <= 1.0
        np.testing.assert_array_equal(y, indices_of(x) % 10)


def test_accepts_channel_axis(data):
    images, labels = data
    loader = BatchIterator(images[:, None], labels, 4, np.random.default_rng(0))
    assert next(iter(loader))[0].shape == (4, 1, 28, 28)


def test_same_seed_same_order_different_seed_different_order(data):
    first = [epoch_indices(make(data, seed=1)) for _ in range(2)]
    assert first[0] == first[1]
    assert epoch_indices(make(data, seed=2)) != first[0]


def test_each_epoch_reshuffles(data):
    loader = make(data)
    assert epoch_indices(loader) != epoch_indices(loader)
    assert loader.epoch == 2


def test_every_sample_once_per_epoch_without_drop_last(data):
    loader = make(data, drop_last=False)
    assert len(loader) == 5
    for _ in range(3):
        seen = [i for batch in epoch_indices(loader) for i in batch]
        assert sorted(seen) == list(range(N))


def test_drop_last_sees_distinct_samples(data):
    seen = [i for batch in epoch_indices(make(data)) for i in batch]
    assert len(seen) == len(set(seen)) == 20


def test_no_shuffle_keeps_order(data):
    loader = make(data, shuffle=False, drop_last=False)
    assert epoch_indices(loader)[-1] == [20, 21, 22]
    assert [i for b in epoch_indices(loader) for i in b] == list(range(N))


def test_resume_mid_epoch(data):
    original = make(data, seed=3)
    for _ in range(2):
        list(original)
    iterator = iter(original)
    next(iterator)
    next(iterator)
    state = original.state_dict()
    remaining = [indices_of(x).tolist() for x, _ in iterator]

    restored = make(data, seed=99)
    restored.load_state_dict({k: np.asarray(v) for k, v in state.items()})
    assert restored.epoch == 3
    assert epoch_indices(restored) == remaining
    assert len(remaining) == 2


def test_break_then_continue_finishes_the_epoch(data):
    loader = make(data)
    full = epoch_indices(make(data))
    for step, _batch in enumerate(loader):
        if step == 1:
            break
    assert epoch_indices(loader) == full[2:]


def test_state_before_first_epoch(data):
    state = make(data).state_dict()
    assert state["epoch"] == 0 and state["position"] == 0 and state["order"].size == 0


def test_load_state_dict_rejects_bad_state(data):
    loader = make(data)
    with pytest.raises(ValueError, match="permutation"):
        loader.load_state_dict({"epoch": 1, "position": 0, "order": np.zeros(N, np.int64)})
    with pytest.raises(ValueError, match="position"):
        loader.load_state_dict({"epoch": 1, "position": N + 1, "order": np.arange(N)})


@pytest.mark.parametrize(
    ("images", "labels", "batch_size"),
    [
        (np.zeros((4, 28, 28), np.float32), np.zeros(4), 2),
        (np.zeros((4, 28), np.uint8), np.zeros(4), 2),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(5), 2),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(4), 5),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(4), 0),
    ],
)
def test_rejects_bad_arguments(images, labels, batch_size):
    with pytest.raises(ValueError):
        BatchIterator(images, labels, batch_size, np.random.default_rng(0))


def test_unit_range_and_back_is_exact_for_every_pixel_value():
    pixels = np.arange(256, dtype=np.uint8)
    x = to_unit_range(pixels)
    assert x.dtype == np.float32
    assert x[0] == -1.0 and x[-1] == 1.0 and x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_allclose(x, pixels / 127.5 - 1, atol=1e-6)
    back = to_uint8(x)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, pixels)


def test_to_uint8_rounds_and_clips():
    x = np.array([-3.0, -1.0, -0.999, 0.0, 0.999, 1.0, 7.0], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 0, 128, 255, 255, 255])
    assert to_uint8(np.zeros((2, 1, 3, 3))).shape == (2, 1, 3, 3)


def test_to_unit_range_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        to_unit_range(np.zeros(3, dtype=np.float32))
