"""What the storage checks share: the models they save (the converted one and one trained in a Web
Worker), saving through each tfjs scheme, and comparing a model before and after a round trip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from harness.browser.backends import BACKENDS, backend_variant
from harness.browser.engines import split_engine
from harness.browser.page import PageOperation
from harness.checks.context import CheckContext
from harness.checks.training import encoded_job, training_job
from harness.verdict.compare import Comparison, compare_exact, format_failure, largest
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.browser.uploads import MODEL_JSON_PART, UPLOAD_PARTS
from harness.reference.directory import GRAPH_DIRECTORY

SCHEMES = ("localstorage", "indexeddb", "downloads", "http")
FILE_SCHEMES = ("downloads", "http")
BROWSER_STORAGE_SCHEMES = ("localstorage", "indexeddb")
STORAGE_PREFIX = "tfjs-parity"


class SaveError(Exception):
    """A save did not produce what tfjs promises (for example, not the two expected downloads)."""


@dataclass(frozen=True)
class Subject:
    """A model on the page to save: ``converted`` (loaded from the fixture) or ``trained`` (in a Web Worker)."""

    label: str
    model_id: int
    trained_on: str | None = None
    note: str | None = None

    def describe(self) -> dict[str, Any]:
        return {key: value for key, value in (("trained_on", self.trained_on), ("note", self.note)) if value}


@dataclass(frozen=True)
class Saved:
    """Where one save put a model: the URL the page loads it back from and, for files, their directory."""

    scheme: str
    load_url: str
    info: dict[str, Any]
    directory: Path | None = None

    @property
    def model_json(self) -> Path:
        if self.directory is None:
            raise SaveError(f"a model saved to {self.scheme}:// has no files")
        return self.directory / MODEL_JSON_PART


SaveTamper = Callable[[CheckContext, Saved], None]  # teeth tests damage a save before it is loaded back


def open_subjects(context: CheckContext) -> Iterator[Subject]:
    """The converted model (the page's shared one, which saving only reads: ``BackendPage.model``), then (for models
    with a training reference) one trained in a Web Worker, a fresh model disposed when the caller moves on."""
    yield Subject("converted", context.page.model(context.model_url))
    if context.reference.has_training("fit"):
        subject = _trained(context)
        yield subject
        # Only when the caller moved on: after an exception (an interrupt among them) the generator may be closed
        # later by the garbage collector, on another thread or after its browser ended; a check that raised is an
        # error row, and its page is discarded with every model on it.
        context.page.call(PageOperation.DISPOSE, subject.model_id)


def _trained(context: CheckContext) -> Subject:
    job = training_job(context.reference.training(), context.model_url, "fit")
    engine, variant_name = split_engine(context.backend)
    instead = engine.worker_variants.get(backend_variant(context.backend).name)
    if instead is not None:
        worker = BACKENDS[instead[0]]
        job["workerBackend"] = {"name": worker.tfjs_backend, "flags": worker.flags, "wasmThreads": worker.wasm_threads,
                                "emulation": worker.emulation}
    made = context.page.call(PageOperation.TRAINED_MODEL, encoded_job(job))
    note = made["note"]
    if note is None and instead is not None:
        note = f"trained in the worker on {instead[0]}, not {variant_name}: {instead[1]}"
    return Subject("trained", made["modelId"], made["trainedOn"], note)


def save_model(context: CheckContext, subject: Subject, scheme: str) -> Saved:
    """Save ``subject`` through ``scheme`` (``localstorage``, ``indexeddb``, ``downloads`` or ``http``)."""
    page, server = context.page, context.server
    if scheme in BROWSER_STORAGE_SCHEMES:
        url = f"{scheme}://{STORAGE_PREFIX}/{context.reference.name}/{subject.label}"
        return Saved(scheme, url, page.call(PageOperation.SAVE, subject.model_id, url))
    if server is None:
        raise SaveError(f"saving to {scheme}:// needs the parity server")
    if scheme == "http":
        slot = server.slots.reserve("uploads")
        info = page.call(PageOperation.SAVE, subject.model_id, server.upload_url(slot))
        return Saved(scheme, server.saved_url(slot, MODEL_JSON_PART), info, server.slots.directory(slot))
    if scheme == "downloads":
        downloads = page.downloads
        if downloads is None:  # the session skips a check that needs downloads on a browser without them
            raise SaveError(f"saving to downloads:// needs the browser's downloads, which the page on {page.backend} "
                            "cannot give")
        downloads.clear()
        downloads.make_room(len(UPLOAD_PARTS))
        info = page.call(PageOperation.SAVE, subject.model_id, "downloads://model")
        slot, directory = server.slots.create("downloads")
        for download in downloads.take(len(UPLOAD_PARTS)):
            _keep_download(download, directory)
        return Saved(scheme, server.saved_url(slot, MODEL_JSON_PART), info, directory)
    raise ValueError(f"unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")


def _keep_download(download: Any, directory: Path) -> None:
    """Save one captured download under its fixed name; anything but tfjs' two files is refused."""
    name = download.suggested_filename
    if name not in UPLOAD_PARTS:
        raise SaveError(f"downloads://model started a download named {name!r}; expected {', '.join(UPLOAD_PARTS)}")
    failure = download.failure()
    if failure:
        raise SaveError(f"downloading {name} failed: {failure}")
    download.save_as(directory / name)


def fingerprint(context: CheckContext, model_id: int, with_values: bool = False) -> dict[str, Any]:
    """Topology JSON, each weight's SHA-256 (and values if asked), and predictions on the reference inputs (computed
    once per page for its shared model; a graph model's inputs go to the nodes its ``graph`` conversion names)."""
    inputs: list[Any] = [encode_tensor(x) for x in context.reference.load_inputs()]
    if context.reference.is_graph_model:
        nodes = context.reference.conversion(GRAPH_DIRECTORY)["inputs"]
        inputs = [{"node": spec["node"], "tensor": x} for spec, x in zip(nodes, inputs)]
    return context.page.read(PageOperation.FINGERPRINT, model_id, inputs, with_values)


def fingerprint_of_saved(context: CheckContext, url: str) -> dict[str, Any]:
    """Load the model saved at ``url`` on the page (its files checked first), fingerprint it, dispose it."""
    loaded = context.page.call(PageOperation.LOAD, url)
    try:
        return fingerprint(context, loaded)
    finally:
        context.page.call(PageOperation.DISPOSE, loaded)


@dataclass
class RoundTrip:
    """What changed between a model and its copy after a round trip: nothing, for a pass."""

    problems: list[str] = field(default_factory=list)
    outputs: list[Comparison] = field(default_factory=list)

    @property
    def max_abs_err(self) -> float | None:
        return largest(c.max_abs_err for c in self.outputs)


def compare_round_trip(before: dict[str, Any], after: dict[str, Any], title: str) -> RoundTrip:
    """Same topology JSON, the same weights with byte-identical data, and bit-identical predictions."""
    trip = RoundTrip()
    if before["topology"] != after["topology"]:
        difference = _first_difference(before["topology"], after["topology"])
        trip.problems.append(f"{title}: topology JSON differs {difference}")
    old = {w["name"]: w for w in before["weights"]}
    new = {w["name"]: w for w in after["weights"]}
    if list(old) != list(new):
        trip.problems.append(f"{title}: weight names differ: before {list(old)}, after {list(new)}")
    for name in old.keys() & new.keys():
        a, b = old[name], new[name]
        if (a["shape"], a["dtype"]) != (b["shape"], b["dtype"]):
            trip.problems.append(f"{title}: weight {name}: {a['dtype']}{a['shape']} before, "
                                 f"{b['dtype']}{b['shape']} after")
        elif a["sha256"] != b["sha256"]:
            trip.problems.append(f"{title}: weight {name}: bytes changed (SHA-256 {a['sha256'][:12]}… before, "
                                 f"{b['sha256'][:12]}… after)")
    for i, (a, b) in enumerate(zip(after["outputs"], before["outputs"])):
        comparison = compare_exact(decode_tensor(a), decode_tensor(b))
        trip.outputs.append(comparison)
        if not comparison.ok:
            trip.problems.append(format_failure(comparison, f"{title}: output {i} not bit-identical",
                                                ("AFTER", "BEFORE")))
    return trip


def _first_difference(a: str, b: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at character {at}: before …{a[max(0, at - 40):at + 40]}…, after …{b[max(0, at - 40):at + 40]}…"

