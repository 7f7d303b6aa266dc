"""The zoo's reference directories, built once and cached under ``fixtures/`` by a content hash.

The cache key covers the model's spec (name, seed, sizes), the source of every module of the
``harness.reference`` package (model definitions, training, conversion, the build recipe: whatever
shapes the numbers), the library versions that shape them, and the oneDNN setting. A warm run
reads manifests only and never imports TensorFlow.

Each fixture lists its files' SHA-256 in ``contents.sha256`` (``sha256sum -c`` reads it). A fixture
whose files no longer match (a damaged disk, an edit by hand, a copy cut short) is built again, with
one line saying which file was wrong.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.reference.directory import ReferenceModel, load_reference
from harness.reference.keras_env import library_versions, onednn_setting
from harness.reference.zoo import ModelSpec, get_spec

FIXTURE_FORMAT = 2
CONTENTS = "contents.sha256"
REFERENCE_PACKAGE = Path(__file__).resolve().parent
DEFAULT_FIXTURES_DIR = REFERENCE_PACKAGE.parent.parent / "fixtures"


@functools.lru_cache(maxsize=1)
def reference_source_digest() -> str:
    """SHA-256 over every module of the reference package, by relative path: the code that shapes references."""
    digest = hashlib.sha256()
    for path in sorted(REFERENCE_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(REFERENCE_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def fixture_key(spec: ModelSpec) -> str:
    """Content hash of everything that determines ``spec``'s fixture."""
    digest = hashlib.sha256()
    for part in (
        f"format={FIXTURE_FORMAT}",
        repr((spec.name, spec.epochs, spec.train_samples, spec.reference_batch, spec.seed)),
        reference_source_digest(),
        repr(sorted(library_versions().items())),
        f"onednn={onednn_setting()}",
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
    specs = [get_spec(name) for name in names]
    references = {}
    with _exclusive(root):
        for stale in root.glob(".building-*"):  # a build that was ended (the lock says none is running)
            shutil.rmtree(stale, ignore_errors=True)
        places = [(spec, root / f"{spec.name}-{key}", key) for spec in specs for key in (fixture_key(spec),)]
        _build_all([place for place in places if not _usable(place[0].name, place[1])])
        for spec, directory, _ in places:
            _prune_stale(root, spec.name, keep=directory)
            references[spec.name] = load_reference(directory)
    return references


def _usable(name: str, directory: Path) -> bool:
    """Whether ``directory`` holds a whole, undamaged fixture; a damaged one is removed, saying so."""
    if not (directory / "manifest.json").is_file():
        return False
    problem = damage(directory)
    if problem is None:
        return True
    print(f"tfjs-parity: the cached reference of {name} is damaged ({problem}); building it again",
          file=sys.stderr, flush=True)
    shutil.rmtree(directory)
    return False


def damage(directory: Path) -> str | None:
    """What is wrong with the fixture in ``directory`` against its ``contents.sha256``, or None when every file
    listed there is present with its recorded content."""
    try:
        listed = (directory / CONTENTS).read_text().splitlines()
    except FileNotFoundError:
        return f"{directory / CONTENTS} is missing"
    for line in listed:
        recorded, _, name = line.partition("  ")
        path = directory / name
        if not path.is_file():
            return f"{path} is missing"
        if _sha256(path) != recorded:
            return f"{path} does not have the content it was built with"
    return None


def _write_contents(directory: Path) -> None:
    """``contents.sha256``: every file of the fixture and its SHA-256, as ``sha256sum`` writes them."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != CONTENTS)
    (directory / CONTENTS).write_text("".join(f"{_sha256(p)}  {p.relative_to(directory).as_posix()}\n"
                                              for p in files))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The slowest builds start first, so parallel builds end together (measured: mobilenet_v2 18 s, rnn 12 s, the
# others 3-7 s on 2 cores).
SLOWEST_BUILDS = ("mobilenet_v2", "rnn")


def _build_all(missing: list[tuple[ModelSpec, Path, str]]) -> None:
    """Build each missing fixture in builder processes, several at once (one per core), never in the run's own: a
    fixture must not depend on what ran before it, and TensorFlow's float32 results move in the last bit after some
    other work in a process (importing torch; a user's ONNX model's route, found by the test suite)."""
    if not missing:
        return
    order = sorted(missing, key=lambda item: _build_rank(item[0].name))
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    pool = context.Pool(processes=min(len(order), os.cpu_count() or 1))
    try:
        for done in [pool.apply_async(_build_by_name, (spec.name, directory, key)) for spec, directory, key in order]:
            done.get()
        pool.close()
    finally:  # also on a deadline (``run.interrupt.deadline``) or a signal: no build outlives the run
        pool.terminate()
        pool.join()


def _build_rank(name: str) -> int:
    return SLOWEST_BUILDS.index(name) if name in SLOWEST_BUILDS else len(SLOWEST_BUILDS)


def _build_by_name(name: str, directory: Path, key: str) -> None:
    """``_build`` in a pool process (a spec holds functions, so the process looks it up by name)."""
    _build(get_spec(name), directory, key)


def _prune_stale(root: Path, name: str, keep: Path) -> None:
    for old in root.glob(f"{name}-*"):
        if old != keep and old.is_dir() and len(old.name) == len(keep.name):
            shutil.rmtree(old, ignore_errors=True)


def _build(spec: ModelSpec, directory: Path, key: str) -> None:
    """Build into a staging directory and rename it into place, so a reader never sees half a fixture."""
    from harness.reference.zoo_build import build_zoo_reference

    staging = directory.with_name(f".building-{directory.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    print(f"tfjs-parity: building the reference of {spec.name} (first use of this source: Keras' outputs, "
          f"conversions and training runs) into {directory}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        build_zoo_reference(spec, staging, key)
        _write_contents(staging)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"tfjs-parity: built {spec.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
