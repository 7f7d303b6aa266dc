"""Build the zoo's reference fixtures once and cache them by a content hash.

The cache key covers the zoo's source (model definitions, data and seeds), this module's build
recipe, the library versions that shape the numbers, and the oneDNN setting. A warm run reads
manifests only and never imports TensorFlow.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

from harness import optimizers, rounding, training, training_references, variants, zoo
from harness.informative import degeneracy_problems
from harness.references import ReferenceModel, load_reference, save_arrays, write_manifest

FIXTURE_FORMAT = 1
VERSIONED_PACKAGES = ("tensorflow", "tf-keras", "tensorflowjs", "numpy")
DEFAULT_FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"


class DegenerateReferenceError(Exception):
    """A freshly built model's reference outputs are (nearly) constant: the check would prove nothing."""


def configure_tensorflow_environment() -> None:
    """Environment TensorFlow must see before it is imported: Keras 2, oneDNN off, quiet logs, no banner.

    oneDNN is off by default here so references are the plain float32 kernels; a user who sets
    ``TF_ENABLE_ONEDNN_OPTS`` keeps their choice, and the setting is part of the cache key.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF-DF (imported by tensorflowjs) imports IPython for its welcome banner when stdout is not
    # a terminal, as under CI; IPython is not a dependency, so the import would fail.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def library_versions() -> dict[str, str]:
    """Installed versions of the packages that shape reference numbers (no imports)."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def fixture_key(spec: zoo.ModelSpec) -> str:
    """Content hash of everything that determines ``spec``'s fixture."""
    configure_tensorflow_environment()
    digest = hashlib.sha256()
    for part in (
        f"format={FIXTURE_FORMAT}",
        repr((spec.name, spec.epochs, spec.train_samples, spec.reference_batch, spec.seed)),
        *(inspect.getsource(module) for module in (zoo, training, optimizers, training_references, variants, rounding)),
        inspect.getsource(_build_into),
        repr(sorted(library_versions().items())),
        f"onednn={os.environ['TF_ENABLE_ONEDNN_OPTS']}",
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Serialise builds across processes (pytest-xdist workers share the cache)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_references(names: list[str], root: Path = DEFAULT_FIXTURES_DIR) -> dict[str, ReferenceModel]:
    """The reference for each zoo model in ``names``, building (and caching) any that is missing."""
    specs = [zoo.get_spec(name) for name in names]
    references = {}
    with _exclusive(root):
        for spec in specs:
            directory = root / f"{spec.name}-{fixture_key(spec)}"
            if not (directory / "manifest.json").is_file():
                _build(spec, directory)
                _prune_stale(root, spec.name, keep=directory)
            references[spec.name] = load_reference(directory)
    return references


def _prune_stale(root: Path, name: str, keep: Path) -> None:
    for old in root.glob(f"{name}-*"):
        if old != keep and old.is_dir() and len(old.name) == len(keep.name):
            shutil.rmtree(old, ignore_errors=True)


def _build(spec: zoo.ModelSpec, directory: Path) -> None:
    staging = directory.with_name(f".building-{directory.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _build_into(spec, staging)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_into(spec: zoo.ModelSpec, directory: Path) -> None:
    """Train ``spec`` briefly on seeded data, convert it in-process (and every other way, see
    ``variants``), store inputs and outputs, then run Keras' side of every training check from the
    converted weights."""
    started = time.perf_counter()
    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.convert import convert_layers_model
    from harness.training import compile_keras, keras_data, keras_names, keras_predict
    from harness.training_references import build_training_references

    keras.backend.clear_session()  # layer names must not depend on what was built before
    keras.utils.set_random_seed(spec.seed)
    model = spec.build()
    compile_keras(model, spec.training)
    train_x, train_y = spec.make_data(np.random.default_rng(spec.seed), spec.train_samples)
    model.fit(keras_data(train_x), keras_data(train_y), epochs=spec.epochs, batch_size=32, shuffle=False, verbose=0)
    reference_x, _ = spec.make_data(np.random.default_rng(spec.seed + 1), spec.reference_batch)
    outputs = keras_predict(model, reference_x)
    problems = [
        problem
        for name, output in zip(model.output_names, outputs)
        for problem in degeneracy_problems(output, f"{spec.name}/{name}")
    ]
    if problems:
        raise DegenerateReferenceError("reference outputs prove nothing:\n" + "\n".join(problems))
    float32_rounding = rounding.float32_rounding(model, reference_x, outputs)
    model_json = convert_layers_model(model, directory)
    converted_variants = variants.build_variants(model, reference_x, outputs, directory)
    build_training_references(spec, model, reference_x, directory)
    write_manifest(directory, {
        "name": spec.name,
        "description": spec.description,
        "model_json": model_json,
        "inputs": save_arrays(directory, "input", keras_names(model.inputs), reference_x),
        "outputs": save_arrays(directory, "output", list(model.output_names), outputs),
        "weights": [{"name": name, "shape": list(w.shape)}
                    for name, w in zip(keras_names(model.weights), model.weights)],
        "param_count": int(model.count_params()),
        "float32_rounding": float32_rounding,
        "variants": converted_variants,
        "build": {
            "key": fixture_key(spec),
            "versions": library_versions(),
            "onednn": os.environ["TF_ENABLE_ONEDNN_OPTS"],
            "seed": spec.seed,
            "epochs": spec.epochs,
            "seconds": round(time.perf_counter() - started, 2),
        },
    })
