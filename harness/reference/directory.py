"""Reference models on disk: a converted tfjs model plus Keras inputs, outputs and a manifest.

Layout of one reference directory::

    manifest.json            what is here (see ``ReferenceModel``)
    model.json, *.bin        the converted tfjs layers model
    input_0.npy, ...         the reference inputs (seeded, in the model's range)
    output_0.npy, ...        Keras' outputs for those inputs
    inner_0.npy, ...         Keras' outputs of inner layers predict compares too, and their float32
                             rounding per channel in inner_rounding_0.npy, ... (see ``inner_outputs``)
    training.json, *.npy     Keras' side of the training checks (see ``training_runs``)
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

MANIFEST = "manifest.json"
GRAPH_DIRECTORY = "graph"  # where a graph model (converted from a SavedModel) lives in a reference directory
TRAINING_JSON = "training.json"
# tfjs names an RNN cell's weights without the cell's scope: Keras' `lstm/lstm_cell/kernel` is
# tfjs' `lstm/kernel` (the converter's weight manifest keeps the Keras name; loading maps it).
RNN_CELL_SCOPE = re.compile(r"/(?:lstm|gru|simple_rnn)_cell(?:_\d+)?/")


def tfjs_weight_name(keras_name: str) -> str:
    """The name tfjs gives the weight Keras calls ``keras_name``."""
    return RNN_CELL_SCOPE.sub("/", keras_name)


class ReferenceFileError(HarnessError):
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
    conversions: dict[str, Any] = field(default_factory=dict)
    float32_rounding: float = 0.0  # Keras float32 vs float64 on the inputs (see ``harness.reference.rounding``)
    # Training runs (and conversions a model cannot have) that were not built, each with the reason (``keras_build``).
    unavailable: dict[str, str] = field(default_factory=dict)
    # Conversions that failed, each with who failed it (the converter or the harness) and the message
    # (``conversions.conversion_failure``).
    failed_conversions: dict[str, dict[str, str]] = field(default_factory=dict)
    # A model from another framework: its route to tfjs, the layouts transposed, and each Python-side hop's
    # outputs before and after it (see ``onnx_build``, judged by ``run.route``); empty for Keras and TensorFlow.
    route: dict[str, Any] = field(default_factory=dict)
    # Inner layers' outputs predict compares too, and their float32 rounding per channel (see ``inner_outputs``).
    inner_outputs: tuple[TensorEntry, ...] = ()
    inner_rounding: tuple[TensorEntry, ...] = ()
    # What one more sample cost a Keras call at build time (on this CPU, Keras' fixed cost per call left out): the
    # first guess of a check's cost before a backend has run the model (``run.cost``); None: Keras did not tell.
    keras_sample_ms: float | None = None
    # Why the reference is weak (outputs that spread only 10x-100x the loosest tolerance: ``degeneracy``); empty
    # when it is informative. Every row of the model says so, and the run measures what predict can catch with it.
    weak_reference: tuple[str, ...] = ()

    @property
    def batch(self) -> int:
        """How many samples the reference inputs hold (their first dimension; 1 for a model without inputs)."""
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1

    @property
    def is_graph_model(self) -> bool:
        """Whether the model itself is a graph model (a TF SavedModel's), not a layers model."""
        return self.model_json.startswith(f"{GRAPH_DIRECTORY}/")

    def load_inputs(self) -> list[np.ndarray]:
        """The reference inputs, in the model's input order."""
        return [self._load(entry) for entry in self.inputs]

    def load_outputs(self) -> list[np.ndarray]:
        """Keras' outputs for the reference inputs, in the model's output order."""
        return [self._load(entry) for entry in self.outputs]

    def load_inner_outputs(self) -> list[np.ndarray]:
        """Keras' outputs of the inner layers predict compares too, for the reference inputs."""
        return [self._load(entry) for entry in self.inner_outputs]

    def load_inner_rounding(self) -> list[np.ndarray]:
        """Each inner output's float32 rounding error per channel (its last axis)."""
        return [self._load(entry) for entry in self.inner_rounding]

    def _load(self, entry: TensorEntry) -> np.ndarray:
        return _load_array(self.directory, entry)

    @property
    def source(self) -> str:
        """Who made the reference outputs, as failure messages label them: KERAS, or PYTORCH / ONNXRUNTIME."""
        return {"pytorch": "PYTORCH", "onnx": "ONNXRUNTIME"}.get(self.route.get("from", ""), "KERAS")

    def hop_outputs(self, index: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The outputs after and before the ``index``-th Python-side hop of the model's ``route``."""
        hop = self.route["hops"][index]
        return ([self._load(e) for e in _tensor_entries(hop["after"])],
                [self._load(e) for e in _tensor_entries(hop["before"])])

    def conversion(self, name: str) -> dict[str, Any]:
        """The manifest entry of the other conversion ``name`` (see ``harness.reference.conversions``)."""
        if name not in self.conversions:
            raise ReferenceFileError(f"{self.directory / MANIFEST}: no '{name}' conversion (rebuild the fixture)")
        return dict(self.conversions[name])

    def conversion_outputs(self, name: str) -> list[np.ndarray]:
        """Keras' outputs recorded with conversion ``name`` (e.g. with dequantized weights)."""
        entry = self.conversion(name)
        return [_load_array(self.directory / entry["directory"], e) for e in _tensor_entries(entry["outputs"])]

    def training(self) -> TrainingReference:
        """Keras' side of the training checks; raises ``ReferenceFileError`` if this model has none."""
        path = self.directory / TRAINING_JSON
        try:
            return TrainingReference(self.directory, _read_json(path, path.stat().st_mtime_ns))
        except FileNotFoundError as error:
            raise ReferenceFileError(f"{path}: no training reference for model '{self.name}'") from error
        except json.JSONDecodeError as error:
            raise ReferenceFileError(f"{path}: malformed training reference: {error}") from error

    def has_training(self, run: str) -> bool:
        """Whether Keras' side of training run ``run`` (e.g. ``core-api``) was recorded. A malformed
        ``training.json`` counts as recorded, so the check runs and its error names the file."""
        if not (self.directory / TRAINING_JSON).is_file():
            return False
        try:
            return run in self.training().raw.get("runs", {})
        except ReferenceFileError:
            return True


@functools.lru_cache(maxsize=64)
def _read_json(path: Path, mtime_ns: int) -> Any:
    """Parsed JSON, read once per file version (``mtime_ns`` is part of the cache key)."""
    return json.loads(path.read_text())


@dataclass(frozen=True)
class TrainingReference:
    """``training.json``: compile arguments, data entries, and each run's Keras results."""

    directory: Path
    raw: dict[str, Any]

    def get(self, *keys: str) -> Any:
        """A value by path, e.g. ``get("runs", "fit", "history")``; ``ReferenceFileError`` names what is missing."""
        value: Any = self.raw
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                where = "/".join(keys[: depth + 1])
                raise ReferenceFileError(f"{self.directory / TRAINING_JSON}: no '{where}'")
            value = value[key]
        return value

    def alternatives(self) -> dict[str, TrainingReference | None]:
        """Keras' runs the way tfjs trains where that is known to differ from Keras (frozen BatchNormalization on
        batch statistics, tfjs' Adadelta rule: see ``training_runs``), each in place of ``runs``, by the id of the
        known issue the difference is; None for a known difference no Keras run can follow (tfjs' centered
        rmsprop); empty for a model tfjs trains as Keras does."""
        return {issue: TrainingReference(self.directory, {**self.raw, "runs": alternative["runs"]})
                if "runs" in alternative else None
                for issue, alternative in self.raw.get("alternatives", {}).items()}

    def arrays(self, *keys: str) -> list[np.ndarray]:
        """The arrays listed at ``keys`` (a list of tensor entries), in order."""
        return [_load_array(self.directory, entry) for entry in _tensor_entries(self.get(*keys))]

    def named_arrays(self, *keys: str) -> dict[str, np.ndarray]:
        """The arrays listed at ``keys``, by their Keras names."""
        entries = _tensor_entries(self.get(*keys))
        return {entry.name: _load_array(self.directory, entry) for entry in entries}


def _load_array(directory: Path, entry: TensorEntry) -> np.ndarray:
    path = directory / entry.file
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ReferenceFileError(f"{path}: cannot read reference array: {error}") from error
    if array.shape != entry.shape or str(array.dtype) != entry.dtype:
        raise ReferenceFileError(
            f"{path}: holds {array.dtype}{list(array.shape)}, manifest says {entry.dtype}{list(entry.shape)}"
        )
    return array


def _tensor_entries(raw: list[dict[str, Any]]) -> tuple[TensorEntry, ...]:
    return tuple(TensorEntry(e["name"], e["file"], tuple(e["shape"]), e["dtype"]) for e in raw)


def load_reference(directory: Path) -> ReferenceModel:
    """Read ``directory/manifest.json``; raises ``ReferenceFileError`` naming the file on any problem."""
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
            conversions=raw.get("conversions", {}),
            float32_rounding=float(raw.get("float32_rounding", 0.0)),
            unavailable=dict(raw.get("unavailable", {})),
            failed_conversions=dict(raw.get("failed_conversions", {})),
            route=dict(raw.get("route", {})),
            inner_outputs=_tensor_entries(raw.get("inner_outputs", {}).get("outputs", [])),
            inner_rounding=_tensor_entries(raw.get("inner_outputs", {}).get("rounding", [])),
            keras_sample_ms=raw.get("keras_sample_ms"),
            weak_reference=tuple(raw.get("weak_reference", ())),
        )
    except FileNotFoundError as error:
        raise ReferenceFileError(f"{path}: no manifest (not a reference directory)") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ReferenceFileError(f"{path}: malformed manifest: {error!r}") from error


def save_arrays(directory: Path, prefix: str, names: list[str], arrays: list[np.ndarray]) -> list[dict[str, Any]]:
    """Save ``arrays`` as ``<prefix>_<i>.npy`` (no pickles) and return their tensor entries."""
    entries = []
    for i, (name, array) in enumerate(zip(names, arrays)):
        file = f"{prefix}_{i}.npy"
        np.save(directory / file, np.ascontiguousarray(array), allow_pickle=False)
        entries.append({"name": name, "file": file, "shape": list(array.shape), "dtype": str(array.dtype)})
    return entries


def save_hop(directory: Path, index: int, label: str, keys: list[str], after: list[np.ndarray],
             before: list[np.ndarray]) -> dict[str, Any]:
    """One Python-side hop of a model's route (``ReferenceModel.route``): the outputs after it and before it, stored
    (``run.route`` judges)."""
    return {"hop": label,
            "after": save_arrays(directory, f"hop{index}_after", keys, [a.astype(np.float32) for a in after]),
            "before": save_arrays(directory, f"hop{index}_before", keys, [b.astype(np.float32) for b in before])}


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` into ``directory``."""
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
