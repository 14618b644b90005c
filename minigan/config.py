"""The configuration of a training run, saved as ``config.json`` in every checkpoint.

>>> config = TrainConfig(model="mlp", batch=32)
>>> config.to_dict()["betas"], TrainConfig.from_dict(config.to_dict()) == config
([0.5, 0.999], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from minigan.checkpoint import CheckpointError
from minigan.models import MODELS
from minigan.objectives import OBJECTIVES

__all__ = ["FAKE_DATA", "RESUMABLE", "TrainConfig"]

#: ``TrainConfig.data`` of a dry run: random pixels, 8 batches of them, no dataset needed.
FAKE_DATA = "fake"
_LOSSES = tuple(OBJECTIVES)

#: Fields that a resumed run may change (all others must match the checkpoint's config.json).
RESUMABLE = frozenset({"epochs"})
_ARCHITECTURE = ("model", "z_dim", "dtype")


@dataclass(frozen=True)
class TrainConfig:
    """What a run trains, saved as ``config.json``; a resumed run must match all but ``epochs``.

    ``data`` is ``"fashion-mnist"``, ``"mnist"``, a directory of IDX files,
    :data:`FAKE_DATA`, or a label for images given to
    :class:`minigan.train.Trainer` directly. Invalid values raise ``ValueError`` listing each.
    """

    data: str = "fashion-mnist"
    model: str = "dcgan28"
    z_dim: int = 100
    epochs: int = 1
    batch: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    loss: str = "nonsaturating"
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))

        def count(value: object, low: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= low

        checks = [
            (self.model in MODELS, f"model must be one of {MODELS}, got {self.model!r}"),
            (self.loss in _LOSSES, f"loss must be one of {_LOSSES}, got {self.loss!r}"),
            (self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, got {self.dtype!r}"),
            (isinstance(self.lr, int | float) and 0 < self.lr < float("inf"), f"lr must be positive, got {self.lr!r}"),
            (len(self.betas) == 2 and all(isinstance(b, int | float) and 0 <= b < 1 for b in self.betas),
             f"betas must be two numbers in [0, 1), got {self.betas!r}"),
            (count(self.seed, 0), f"seed must be a non-negative integer, got {self.seed!r}"),
        ] + [
            (count(getattr(self, name), 1), f"{name} must be a positive integer, got {getattr(self, name)!r}")
            for name in ("z_dim", "epochs", "batch")
        ]  # fmt: skip
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("TrainConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``config.json``."""
        return {**asdict(self), "betas": list(self.betas)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Rebuild a config from :meth:`to_dict`; a clear ``CheckpointError`` if it is not one."""
        names = {f.name for f in fields(cls)}
        if set(values) != names:
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
