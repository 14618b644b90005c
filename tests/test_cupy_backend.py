"""The ``cupy`` backend on a real GPU: DCGAN-28 agrees with the ``numpy`` backend, modules move
between devices, and checkpoints cross between GPU and CPU. Skipped, with the reason, without
CuPy or a CUDA device (CI has neither; the kernels themselves are covered there by
``tests/test_kernels_cuda.py`` under the CUDA simulator).
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend, models
from minigan import functional as F
from minigan.serialization import load_file, save_file

cupy = pytest.importorskip("cupy", reason="cupy is not installed: pip install 'minigan[cuda]'")
try:
    _devices = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError as e:  # no driver, or no device
    _devices, _why = 0, str(e)
else:
    _why = "the CUDA runtime reports no device"
if _devices == 0:
    pytest.skip(f"no CUDA GPU: {_why}", allow_module_level=True)

RTOL = 1e-4  # the bound: float32, relative to each tensor's largest magnitude


def relative_error(actual, expected: np.ndarray) -> float:
    actual = cupy.asnumpy(actual)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


def forward_backward(G, D, z, real) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """D on ``real`` (target 1), D on ``G(z)`` with G's target 1 and G's backward through D:
    every output and every gradient. ``np.ones_like`` on a CuPy array makes a CuPy array.
    """
    G.zero_grad()
    D.zero_grad()
    fake = G.forward(z)
    out = {"fake": fake, "real_logits": D.forward(real)}
    bce = backend.kernel(F.bce_with_logits, out["real_logits"])
    loss_real, d_real = bce(out["real_logits"], np.ones_like(out["real_logits"]))
    D.backward(d_real)
    out["fake_logits"] = D.forward(fake)
    loss_fake, d_fake = bce(out["fake_logits"], np.ones_like(out["fake_logits"]))
    out["d_fake"] = D.backward(d_fake)
    G.backward(out["d_fake"])
    out["loss"] = loss_real + loss_fake
    for prefix, model in (("G.", G), ("D.", D)):
        out.update((prefix + name, p.grad) for name, p in model.named_parameters())
    return out


@pytest.mark.parametrize("batch", [64, 256])
def test_dcgan28_cupy_agrees_with_numpy(batch: int) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch, 100), dtype=np.float32)
    real = rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
    with backend.using("numpy"):
        expected = forward_backward(*models.dcgan28(rng=np.random.default_rng(1)), z, real)
    G, D = models.dcgan28(rng=np.random.default_rng(1))
    G.to("cupy")
    D.to("cupy")
    with backend.using("cupy"):
        got = forward_backward(G, D, cupy.asarray(z), cupy.asarray(real))
    errors = {name: relative_error(got[name], np.asarray(expected[name])) for name in expected}
    worst = max(errors, key=errors.get)
    assert errors[worst] <= RTOL, f"{worst}: relative error {errors[worst]:.2e} > {RTOL}"


def test_to_cupy_and_back_keeps_values() -> None:
    G, _ = models.dcgan28(rng=np.random.default_rng(0))
    before = G.state_dict()
    G.to("cupy")
    assert all(
        isinstance(p.data, cupy.ndarray) and isinstance(p.grad, cupy.ndarray)
        for p in G.parameters()
    )
    assert all(isinstance(b, cupy.ndarray) for _, b in G.named_buffers())
    G.to("numpy")
    assert all(isinstance(p.data, np.ndarray) for p in G.parameters())
    after = G.state_dict()
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_checkpoints_cross_between_gpu_and_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gpu, _ = models.dcgan28(rng=np.random.default_rng(0))
    gpu.to("cupy")
    state = gpu.state_dict()  # host copies, ready for safetensors
    assert all(isinstance(v, np.ndarray) for v in state.values())
    save_file(state, tmp_path / "gpu.safetensors")
    cpu, _ = models.dcgan28(rng=np.random.default_rng(1))
    cpu.load_state_dict(load_file(tmp_path / "gpu.safetensors"))
    assert all(np.array_equal(v, state[k]) for k, v in cpu.state_dict().items())
    save_file(cpu.state_dict(), tmp_path / "cpu.safetensors")
    back, _ = models.dcgan28(rng=np.random.default_rng(2))
    back.to("cupy")
    back.load_state_dict(load_file(tmp_path / "cpu.safetensors"))
    assert isinstance(back.parameters()[0].data, cupy.ndarray)
    assert all(np.array_equal(v, state[k]) for k, v in back.state_dict().items())


def test_bce_with_logits_matches_reference() -> None:
    x = np.array([1e4, -1e4, 0.5, -2], np.float32)
    t = np.array([0, 1, 1, 0], np.float32)
    x_dev = cupy.asarray(x)
    bce = backend.kernel(F.bce_with_logits, x_dev)  # a CuPy array: the CUDA kernel
    assert bce is not F.bce_with_logits
    loss, dx = bce(x_dev, cupy.asarray(t))
    loss_ref, dx_ref = F.bce_with_logits(x, t)
    assert abs(float(loss) - loss_ref) <= 1e-6 * abs(loss_ref)
    np.testing.assert_allclose(cupy.asnumpy(dx), dx_ref, rtol=1e-6)
