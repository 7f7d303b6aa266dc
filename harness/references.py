"""Reference models on disk: a converted tfjs model plus Keras inputs, outputs and a manifest.

Layout of one reference directory::

    manifest.json            what is here (see ``ReferenceModel``)
    model.json, *.bin        the converted tfjs layers model
    input_0.npy, ...         the reference inputs (seeded, in the model's range)
    output_0.npy, ...        Keras' outputs for those inputs
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"


class ReferenceError(Exception):
    """A reference directory is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class TensorEntry:
    """One stored input or output: its name, file, shape and dtype."""

    name: str
    file: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class WeightEntry:
    """A weight as Keras names it (without the ``:0`` suffix) and its shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ReferenceModel:
    """A converted model and its Keras reference, as recorded in ``manifest.json``."""

    name: str
    directory: Path
    model_json: str
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[TensorEntry, ...]
    weights: tuple[WeightEntry, ...]
    param_count: int
    build_info: dict[str, Any]

    def load_inputs(self) -> list[np.ndarray]:
        """The reference inputs, in the model's input order."""
        return [self._load(entry) for entry in self.inputs]

    def load_outputs(self) -> list[np.ndarray]:
        """Keras' outputs for the reference inputs, in the model's output order."""
        return [self._load(entry) for entry in self.outputs]

    def _load(self, entry: TensorEntry) -> np.ndarray:
        path = self.directory / entry.file
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ReferenceError(f"{path}: cannot read reference array: {error}") from error
        if array.shape != entry.shape or str(array.dtype) != entry.dtype:
            raise ReferenceError(
                f"{path}: holds {array.dtype}{list(array.shape)}, manifest says {entry.dtype}{list(entry.shape)}"
            )
        return array


def _tensor_entries(raw: list[dict[str, Any]]) -> tuple[TensorEntry, ...]:
    return tuple(TensorEntry(e["name"], e["file"], tuple(e["shape"]), e["dtype"]) for e in raw)


def load_reference(directory: Path) -> ReferenceModel:
    """Read ``directory/manifest.json``; raises ``ReferenceError`` naming the file on any problem."""
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text())
        return ReferenceModel(
            name=raw["name"],
            directory=directory,
            model_json=raw["model_json"],
            inputs=_tensor_entries(raw["inputs"]),
            outputs=_tensor_entries(raw["outputs"]),
            weights=tuple(WeightEntry(w["name"], tuple(w["shape"])) for w in raw["weights"]),
            param_count=int(raw["param_count"]),
            build_info=raw.get("build", {}),
        )
    except FileNotFoundError as error:
        raise ReferenceError(f"{path}: no manifest (not a reference directory)") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ReferenceError(f"{path}: malformed manifest: {error!r}") from error


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` into ``directory``."""
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
