"""The configuration of a training run, saved as ``config.json`` in every checkpoint.

Fields left at ``None`` take the defaults of the run's objective (its paper's optimizer,
learning rates, betas and D steps per G step: :attr:`minigan.objectives.Objective.defaults`),
so the saved file always says what the run trained with.

>>> config = TrainConfig(model="mlp", batch=32)
>>> config.to_dict()["betas"], config.lr_g, TrainConfig.from_dict(config.to_dict()) == config
([0.5, 0.999], 0.0002, True)
>>> wgan = TrainConfig(loss="wgan", model="mlp")
>>> wgan.optimizer, wgan.lr_d, wgan.n_critic, wgan.clip
('rmsprop', 5e-05, 5, 0.01)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from minigan.checkpoint import CheckpointError
from minigan.models import MODELS
from minigan.objectives import LOSSES, Objective, get_objective
from minigan.optim import OPTIMIZERS

__all__ = ["CUSTOM_MODEL", "FAKE_DATA", "RESUMABLE", "TrainConfig"]

#: ``TrainConfig.data`` of a dry run: random pixels, 8 batches of them, no dataset needed.
FAKE_DATA = "fake"
#: ``TrainConfig.model`` of a run whose networks the caller built (``Trainer(G=..., D=...)``).
CUSTOM_MODEL = "custom"
_LOSSES = tuple(LOSSES)
#: The loss a configuration without one trains: the VAE's for ``vae28``, else the DCGAN paper's.
_DEFAULT_LOSS = {"vae28": "elbo"}

#: Fields that a resumed run may change (all others must match the checkpoint's config.json).
RESUMABLE = frozenset({"epochs"})
_ARCHITECTURE = ("model", "z_dim", "dtype", "image_shape", "num_classes")
#: Fields added after the first release, and the value a config.json without them meant.
_LEGACY = {"image_shape": (1, 28, 28), "num_classes": None}
#: Fields whose default comes from the objective.
_FROM_OBJECTIVE = ("optimizer", "betas", "n_critic")


def _count(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**64


@dataclass(frozen=True)
class TrainConfig:
    """What a run trains, saved as ``config.json``; a resumed run must match all but ``epochs``.

    ``data`` is ``"fashion-mnist"``, ``"mnist"``, a directory of IDX files,
    :data:`FAKE_DATA`, or a label for images given to :class:`minigan.train.Trainer` directly.
    ``model`` is one of :data:`minigan.models.MODELS`, or :data:`CUSTOM_MODEL` for networks
    given to the Trainer. ``loss`` names the objective (:data:`minigan.objectives.LOSSES`;
    None: ``elbo`` for the VAE ``vae28``, which trains with it alone, else ``nonsaturating``);
    ``optimizer``, ``lr_g``/``lr_d`` (G's and D's learning rates), ``betas`` (Adam's) and
    ``n_critic`` (D steps per G step) default to the objective's; ``clip`` (``wgan``) and
    ``gp_weight`` (``wgan-gp``) belong to their objective alone. ``num_classes`` makes the
    models conditional on that many classes. ``image_shape`` (C, H, W) is filled in from the
    data by the Trainer. Invalid values raise ``ValueError`` listing each.
    """

    data: str = "fashion-mnist"
    model: str = "dcgan28"
    z_dim: int = 100
    epochs: int = 1
    batch: int = 64
    loss: str | None = None
    optimizer: str | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None
    clip: float | None = None
    gp_weight: float | None = None
    num_classes: int | None = None
    image_shape: tuple[int, int, int] | None = None
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.loss is None:
            object.__setattr__(self, "loss", _DEFAULT_LOSS.get(self.model, "nonsaturating"))
        if self.loss not in _LOSSES:
            raise ValueError(f"TrainConfig: loss must be one of {_LOSSES}, got {self.loss!r}")
        defaults = LOSSES[self.loss].defaults
        resolved = {name: defaults[name] for name in _FROM_OBJECTIVE if getattr(self, name) is None}
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) is None:
                resolved[name] = defaults["lr"]
        for name in ("clip", "gp_weight"):  # an option of one objective only
            if getattr(self, name) is None and name in defaults:
                resolved[name] = defaults[name]
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "betas", tuple(self.betas))
        if isinstance(self.image_shape, list | tuple):
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
        problems = [message for ok, message in self._checks() if not ok]
        if problems:
            raise ValueError("TrainConfig: " + "; ".join(problems))

    def _checks(self) -> list[tuple[bool, str]]:
        models = (*MODELS, CUSTOM_MODEL)
        shape = self.image_shape
        return [
            (self.model in models, f"model must be one of {models}, got {self.model!r}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, got {self.dtype!r}"),
            (len(self.betas) == 2 and all(isinstance(b, int | float) and 0 <= b < 1 for b in self.betas),
             f"betas must be two numbers in [0, 1), got {self.betas!r}"),
            (_count(self.seed, 0), f"seed must be a non-negative integer, got {self.seed!r}"),
            (self.num_classes is None or _count(self.num_classes, 2),
             f"num_classes must be None or an integer of at least 2, got {self.num_classes!r}"),
            (shape is None or (len(shape) == 3 and all(_count(s, 1) for s in shape)),
             f"image_shape must be three positive integers (C, H, W), got {shape!r}"),
            (self.clip is None or self.loss == "wgan", f"clip is an option of the wgan loss, not {self.loss}"),
            (self.gp_weight is None or self.loss == "wgan-gp",
             f"gp_weight is an option of the wgan-gp loss, not {self.loss}"),
            (not (self.loss == "wgan-gp" and self.model == "dcgan28"),
             "--model dcgan28 cannot train with --loss wgan-gp: its critic has BatchNorm, which "
             "couples the samples of a batch while the gradient penalty is per sample; use "
             "--model dcgan28-nobn (DCGAN-28 without BatchNorm in D) or --model mlp"),
            ((self.model == "vae28") == (self.loss == "elbo") or self.model == CUSTOM_MODEL,
             f"--model {self.model} cannot train with --loss {self.loss}: the VAE vae28 trains on "
             "its negative ELBO (--loss elbo, its default) and elbo is the loss of vae28 alone"),
            (not (self.loss == "elbo" and (self.num_classes is not None or self.n_critic != 1)),
             "--loss elbo (vae28) trains an unconditional VAE, one update per batch: no "
             "--conditional, --n-critic 1"),
            (not (self.loss == "wgan-gp" and self.num_classes is not None),
             "the gradient penalty of a conditional critic is not derived: --loss wgan-gp "
             "trains unconditional models only"),
        ] + [
            (_positive(getattr(self, name)), f"{name} must be a positive number, got {getattr(self, name)!r}")
            for name in ("lr_g", "lr_d", *(n for n in ("clip", "gp_weight") if getattr(self, n) is not None))
        ] + [
            (_count(getattr(self, name), 1), f"{name} must be a positive integer, got {getattr(self, name)!r}")
            for name in ("z_dim", "epochs", "batch", "n_critic")
        ]  # fmt: skip

    def objective(self) -> Objective:
        """The objective this run plays, with its options (``clip``, ``gp_weight``)."""
        options = {
            n: getattr(self, n) for n in ("clip", "gp_weight") if getattr(self, n) is not None
        }
        return get_objective(self.loss, **options)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``config.json``."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        if self.image_shape is not None:
            values["image_shape"] = list(self.image_shape)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Rebuild a config from :meth:`to_dict`; a clear ``CheckpointError`` if it is not one.

        A config.json of an earlier minigan (one ``lr`` for both players, no ``image_shape``)
        reads as what it meant."""
        values = dict(values)
        if "lr" in values and "lr_g" not in values and "lr_d" not in values:
            values["lr_g"] = values["lr_d"] = values.pop("lr")
        for name, value in _LEGACY.items():
            values.setdefault(name, value)
        names = {f.name for f in fields(cls)}
        required = names - set(_FROM_OBJECTIVE) - {"lr_g", "lr_d", "clip", "gp_weight"}
        if not required <= set(values) or not set(values) <= names:
            raise CheckpointError(
                f"{source}: expected the keys {sorted(names)}, found {sorted(values)}"
            )
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: {exc}") from None

    def resumed_with(self, changes: Mapping[str, Any], run_dir: object) -> TrainConfig:
        """This (saved) config with ``changes`` that a resumed run may make (``epochs``); any
        other change is refused with a :class:`CheckpointError` naming it."""
        conflicts = [
            f"{name} {value!r} (the checkpoint has {getattr(self, name)!r})"
            for name, value in changes.items()
            if name not in RESUMABLE and value != getattr(self, name)
        ]
        if conflicts:
            raise CheckpointError(
                f"cannot resume {run_dir} with {'; '.join(conflicts)}: a resumed run keeps its "
                "configuration (only epochs may change); start a new run with another --out"
            )
        return replace(self, **{k: v for k, v in changes.items() if k in RESUMABLE})

    def conflicts(self, other: TrainConfig) -> list[str]:
        """How ``other`` differs from this config, architecture first, ignoring ``epochs``."""
        names = [*_ARCHITECTURE, *(f.name for f in fields(self))]
        return [
            f"{name} {getattr(self, name)!r} vs {getattr(other, name)!r}"
            for name in dict.fromkeys(names)
            if name not in RESUMABLE and getattr(self, name) != getattr(other, name)
        ]
