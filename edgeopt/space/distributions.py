"""Search-space distributions: frozen records that sample, suggest through Optuna, and round-trip to JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np


@dataclass(frozen=True)
class Fixed:
    value: object

    def sample(self, rng: np.random.Generator):
        return self.value

    def suggest(self, trial, name: str):
        return self.value

    def size(self) -> float:
        return 1

    @property
    def values(self) -> tuple:
        return (self.value,)

    def to_json(self) -> dict:
        return {"fixed": self.value}


@dataclass(frozen=True)
class Choice:
    values: tuple

    def sample(self, rng: np.random.Generator):
        return self.values[int(rng.integers(len(self.values)))]

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, list(self.values))

    def size(self) -> float:
        return len(self.values)

    def to_json(self) -> dict:
        return {"choice": list(self.values)}


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False
    step: int = 1

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(self.high, max(self.low, math.floor(value))))
        steps = (self.high - self.low) // self.step
        return self.low + self.step * int(rng.integers(steps + 1))

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def size(self) -> float:
        return (self.high - self.low) // self.step + 1

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def to_json(self) -> dict:
        return {"int": [self.low, self.high], "log": self.log, "step": self.step}


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def size(self) -> float:
        return math.inf if self.high > self.low else 1

    @property
    def values(self) -> tuple[float, ...]:
        """The bounds only: a float range has no finite list of values."""
        return (self.low, self.high)

    def to_json(self) -> dict:
        return {"float": [self.low, self.high], "log": self.log}


Distribution = Union[Fixed, Choice, IntRange, FloatRange]


def from_json(data: dict) -> Distribution:
    """Inverse of `to_json`."""
    if "fixed" in data:
        return Fixed(data["fixed"])
    if "choice" in data:
        return Choice(tuple(data["choice"]))
    if "int" in data:
        return IntRange(int(data["int"][0]), int(data["int"][1]), bool(data.get("log", False)),
                        int(data.get("step", 1)))
    if "float" in data:
        return FloatRange(float(data["float"][0]), float(data["float"][1]), bool(data.get("log", False)))
    raise ValueError(f"not a distribution: {data!r}")
