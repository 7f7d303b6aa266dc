"""Storage checks: ``save-load[scheme]`` round trips through every tfjs storage scheme, and
``model-management`` (``tf.io.listModels``, ``copyModel``, ``moveModel``, ``removeModel``).

Browser storage is cleared before and after each check, so no check can pass on another's
leftovers. ``tamper`` hooks (called after each save, or after each management step) let the
teeth tests damage what was saved and show the checks fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.browser.page import BrowserError, PageOperation
from harness.checks.context import CheckContext, CheckFunction, check_family
from harness.checks.saving import (
    SCHEMES,
    STORAGE_PREFIX,
    SaveTamper,
    compare_round_trip,
    fingerprint,
    fingerprint_of_saved,
    open_subjects,
    save_model,
)
from harness.verdict.compare import largest
from harness.results import CheckResult

StepTamper = Callable[[CheckContext, str], None]
INFO_SIZES = ("modelTopologyBytes", "weightSpecsBytes", "weightDataBytes")


def clear_storage(context: CheckContext, problems: list[str]) -> None:
    """Empty localStorage and tfjs' IndexedDB; a listing that is not empty afterwards is a problem."""
    left = context.page.call(PageOperation.CLEAR_STORAGE)
    if left:
        problems.append(f"storage not empty after clearing: tf.io.listModels() lists {sorted(left)}")


def check_save_load(context: CheckContext, scheme: str, tamper: SaveTamper | None = None) -> CheckResult:
    """Save the converted model and a worker-trained one through ``scheme``, load each back with
    ``tf.loadLayersModel``: same topology JSON, byte-identical weights, bit-identical predictions."""
    problems: list[str] = []
    details: dict[str, Any] = {"scheme": scheme}
    clear_storage(context, problems)
    errors: list[float | None] = []
    try:
        for subject in open_subjects(context):
            before = fingerprint(context, subject.model_id)
            saved = save_model(context, subject, scheme)
            if tamper is not None:
                tamper(context, saved)
            after = fingerprint_of_saved(context, saved.load_url)
            title = f"{context.reference.name} / {subject.label} model / {scheme}:// on {context.backend}"
            trip = compare_round_trip(before, after, title)
            problems += trip.problems
            errors.append(trip.max_abs_err)
            details[subject.label] = {**subject.describe(), "weights": len(after["weights"]),
                                      "saved": _sizes(saved.info), "identical": not trip.problems}
    finally:
        clear_storage(context, [])
    return context.result(status="fail" if problems else "pass", message="\n\n".join(problems),
                          max_abs_err=largest(errors), atol=0.0, rtol=0.0, details=details)


def _sizes(info: dict[str, Any]) -> dict[str, Any]:
    return {key: info.get(key) for key in INFO_SIZES}


SAVE_LOAD_CHECKS: dict[str, CheckFunction] = check_family("save-load", SCHEMES, check_save_load)


class ManagementRun:
    """One model-management sequence on the page, collecting every way it differs from the docs."""

    def __init__(self, context: CheckContext, original: dict[str, Any], saved_info: dict[str, Any],
                 tamper: StepTamper | None) -> None:
        self.context = context
        self.original = original
        self.saved_info = saved_info
        self.tamper = tamper
        self.problems: list[str] = []
        self.steps: list[str] = []

    def step(self, name: str, listed: set[str], same: tuple[str, ...] = (), gone: tuple[str, ...] = ()) -> None:
        """After step ``name``: ``tf.io.listModels`` lists exactly ``listed`` (with the saved sizes), each URL
        in ``same`` loads back identical to the original, and each in ``gone`` no longer loads."""
        self.steps.append(name)
        if self.tamper is not None:
            self.tamper(self.context, name)
        actual = self.context.page.call(PageOperation.LIST_MODELS)
        if set(actual) != listed:
            self.problems.append(f"after {name}: tf.io.listModels() lists {sorted(actual)}, expected {sorted(listed)}")
        for url, info in actual.items():
            if _sizes(info) != _sizes(self.saved_info):
                self.problems.append(f"after {name}: {url} listed with sizes {_sizes(info)}, saved with "
                                     f"{_sizes(self.saved_info)}")
        for url in same:
            self._expect_same(name, url)
        for url in gone:
            self._expect_gone(name, url)

    def _expect_same(self, step: str, url: str) -> None:
        after = fingerprint_of_saved(self.context, url)
        title = f"{self.context.reference.name} / model-management on {self.context.backend}: after {step}, {url}"
        self.problems += compare_round_trip(self.original, after, title).problems

    def _expect_gone(self, step: str, url: str) -> None:
        try:
            loaded = self.context.page.call(PageOperation.LOAD, url)
        except BrowserError:
            return
        self.context.page.call(PageOperation.DISPOSE, loaded)
        self.problems.append(f"after {step}: {url} still loads")


def check_model_management(context: CheckContext, tamper: StepTamper | None = None) -> CheckResult:
    """``tf.io.listModels``, ``copyModel`` (localstorage <-> indexeddb), ``moveModel`` and ``removeModel``
    behave as documented, and every copy or moved model loads back identical to the original."""
    page = context.page
    base = f"{STORAGE_PREFIX}/{context.reference.name}"
    ls_a, idb_b, ls_c = f"localstorage://{base}/a", f"indexeddb://{base}/b", f"localstorage://{base}/c"
    idb_d, ls_e = f"indexeddb://{base}/d", f"localstorage://{base}/e"
    problems: list[str] = []
    clear_storage(context, problems)
    model_id = page.model(context.model_url)  # the page's shared model: saving and copying only read it
    try:
        saved = page.call(PageOperation.SAVE, model_id, ls_a)
        run = ManagementRun(context, fingerprint(context, model_id), saved, tamper)
        run.step("save to localstorage", {ls_a}, same=(ls_a,))
        page.call(PageOperation.COPY_MODEL, ls_a, idb_b)
        run.step("copyModel localstorage -> indexeddb", {ls_a, idb_b}, same=(idb_b,))
        page.call(PageOperation.COPY_MODEL, idb_b, ls_c)
        run.step("copyModel indexeddb -> localstorage", {ls_a, idb_b, ls_c}, same=(ls_c,))
        page.call(PageOperation.MOVE_MODEL, ls_a, idb_d)
        run.step("moveModel localstorage -> indexeddb", {idb_b, ls_c, idb_d}, same=(idb_d,), gone=(ls_a,))
        page.call(PageOperation.MOVE_MODEL, idb_b, ls_e)
        run.step("moveModel indexeddb -> localstorage", {ls_c, idb_d, ls_e}, same=(ls_e,), gone=(idb_b,))
        page.call(PageOperation.REMOVE_MODEL, ls_c)
        page.call(PageOperation.REMOVE_MODEL, idb_d)
        run.step("removeModel", {ls_e}, gone=(ls_c, idb_d))
        page.call(PageOperation.REMOVE_MODEL, ls_e)
        run.step("removeModel of the last one", set(), gone=(ls_e,))
        problems += run.problems
    finally:
        clear_storage(context, [])
    return context.result(status="fail" if problems else "pass", message="\n".join(problems),
                          details={"steps": run.steps})
