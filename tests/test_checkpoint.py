"""Checkpoints: round trip, atomic saves, and clear errors for foreign or corrupt ones."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from minigan import checkpoint as ckpt_module
from minigan.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from minigan.config import TrainConfig
from minigan.sampling import load_generator
from minigan.train import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)


def trained(out, model="mlp", iters=3, **config):
    """A Trainer on 32 random images (batch 8) stopped at ``iters`` with a checkpoint."""
    config = TrainConfig(data="random", model=model, batch=8, epochs=2, **config)
    trainer = Trainer(config, out, images=IMAGES, quiet=True, pictures=False)
    trainer.fit(max_iters=iters)
    return trainer


def assert_same_state(a, b):
    for x, y in ((a.G, b.G), (a.D, b.D), (a.opt_G, b.opt_G), (a.opt_D, b.opt_D)):
        sx, sy = x.state_dict(), y.state_dict()
        assert sx.keys() == sy.keys() and all(np.array_equal(sx[k], sy[k]) for k in sx)
    assert a.iteration == b.iteration
    assert a.noise_rng.bit_generator.state == b.noise_rng.bit_generator.state
    assert a.data_rng.bit_generator.state == b.data_rng.bit_generator.state
    sa, sb = a.loader.state_dict(), b.loader.state_dict()
    assert np.array_equal(sa.pop("order"), sb.pop("order")) and sa == sb


def test_resume_restores_everything(tmp_path):
    trainer = trained(tmp_path / "run")  # mlp's G has BatchNorm buffers too
    resumed = Trainer.resume(tmp_path / "run", images=IMAGES, quiet=True)
    assert_same_state(trainer, resumed)
    assert resumed.out == tmp_path / "run" and resumed.config == trainer.config


def test_checkpoint_is_safetensors_and_json_only(tmp_path):
    trained(tmp_path / "run")
    names = {p.name for p in (tmp_path / "run" / "checkpoint").iterdir()}
    assert {n.rsplit(".", 1)[1] for n in names} == {"safetensors", "json"}
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["iteration"] == 3 and state["rng"]["noise"]["bit_generator"] == "PCG64"
    assert (state["epoch"], state["position"]) == (0, 3)


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = trained(tmp_path / "run")
    before = load_checkpoint(tmp_path / "run")
    real, _ = next(iter(trainer.loader))
    trainer.step(real)  # moves on to iteration 4 without saving...
    calls = []

    def failing_save_file(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(tensors, path, metadata)

    original = ckpt_module.save_file
    monkeypatch.setattr(ckpt_module, "save_file", failing_save_file)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()  # ...and fails halfway through writing the new one
    after = load_checkpoint(tmp_path / "run")
    assert after.state == before.state and after.state["iteration"] == 3
    assert all(
        np.array_equal(after.tensors[p][k], before.tensors[p][k])
        for p in before.tensors
        for k in before.tensors[p]
    )
    names = sorted(p.name for p in (tmp_path / "run").iterdir() if p.name != ".lock")
    assert names == ["checkpoint", "metrics.jsonl"]


def test_a_kill_between_the_renames_leaves_a_loadable_old_copy(tmp_path, monkeypatch):
    trained(tmp_path / "run")
    original = os.replace

    def killed_at_second_rename(src, dst):
        if os.path.basename(src).startswith("checkpoint.tmp-"):
            raise KeyboardInterrupt  # the process dies after checkpoint -> checkpoint.old
        return original(src, dst)

    monkeypatch.setattr(ckpt_module.os, "replace", killed_at_second_rename)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "run", {"G": {"w": np.zeros(1)}}, {"iteration": 99}, {})
    monkeypatch.setattr(ckpt_module.os, "replace", original)
    assert find_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoint.old"
    resumed = Trainer.resume(tmp_path / "run", images=IMAGES, quiet=True, pictures=False)
    assert resumed.iteration == 3
    resumed.fit(max_iters=5)  # the next save puts a complete checkpoint back
    names = sorted(p.name for p in (tmp_path / "run").iterdir() if p.name != ".lock")
    assert names == ["checkpoint", "metrics.jsonl"]
    assert load_checkpoint(tmp_path / "run").state["iteration"] == 5


def test_a_stale_temporary_directory_is_cleaned_up(tmp_path):
    stale = tmp_path / "checkpoint.tmp-dead"
    stale.mkdir()
    (stale / "G.safetensors").write_bytes(b"half")
    save_checkpoint(tmp_path, {"G": {"w": np.ones(2)}}, {"iteration": 1}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_another_architecture_is_named(tmp_path):
    trained(tmp_path / "run", model="mlp")
    other = Trainer(TrainConfig(data="random", batch=8), images=IMAGES, quiet=True)
    with pytest.raises(CheckpointError, match=r"model 'mlp' vs 'dcgan28'"):
        other.load_checkpoint(tmp_path / "run")


def test_weights_that_do_not_fit_their_config_are_named(tmp_path):
    trained(tmp_path / "run", model="mlp")
    config_path = tmp_path / "run" / "checkpoint" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "model": "dcgan28"}))
    with pytest.raises(CheckpointError, match=r"G\.safetensors does not fit a dcgan28 generator"):
        load_generator(tmp_path / "run")
    with pytest.raises(CheckpointError, match=r"G\.safetensors does not fit dcgan28.*missing keys"):
        Trainer.resume(tmp_path / "run", images=IMAGES, quiet=True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "G.safetensors").write_bytes(b"\x08"), r"G\.safetensors.*shorter"),
        (lambda d: (d / "D.safetensors").unlink(), r"D\.safetensors: missing"),
        (lambda d: (d / "config.json").write_text("{"), r"config\.json: not valid JSON"),
        (lambda d: (d / "config.json").write_text('{"model": "mlp"}'), r"expected the keys"),
        (lambda d: (d / "state.json").write_text("{}"), r"state\.json.*does not fit"),
    ],
)
def test_corrupt_checkpoints_are_clear_errors(tmp_path, damage, message):
    trained(tmp_path / "run")
    damage(tmp_path / "run" / "checkpoint")
    with pytest.raises(CheckpointError, match=message):
        Trainer.resume(tmp_path / "run", images=IMAGES, quiet=True)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such run directory"):
        find_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        find_checkpoint(tmp_path)


def test_config_validation_and_round_trip():
    config = TrainConfig(model="mlp", betas=[0.0, 0.9])
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match=r"model must be one of.*batch must be a positive"):
        TrainConfig(model="vae", batch=0)
    assert TrainConfig().conflicts(TrainConfig(epochs=5)) == []
    assert TrainConfig().conflicts(TrainConfig(lr_d=1e-3, z_dim=8)) == [
        "z_dim 100 vs 8",
        "lr_d 0.0002 vs 0.001",
    ]
