"""What a user has decided to live with: known issues accepted by id, each with its reason.

A row that fails only because of a known issue (``details["known_issue"]``, see ``known_issues``)
becomes ``xfail`` with the user's reason when an acceptance covers it. Acceptances come from
``--accept ID[,ID]``, from an accept file (TOML, committed in the user's repository the way a
linter's baseline is) or from the pytest API's ``accept=``; the zoo's own accept file is
``zoo_accepted.toml`` beside this module. An acceptance that matched nothing in a run that covered
its scope is reported stale, so an issue fixed upstream does not stay excused forever.

The accept file::

    [accept]
    tfjs-multi-output-evaluation = "we read evaluation losses per output"   # everywhere

    [accept.tfjs-missing-kernel]
    reason = "we train on webgl; wasm serves inference only"
    backends = ["wasm"]              # optional scopes: backends, models, checks (see Acceptance.in_scope)
    checks = ["fit", "fit-worker"]
    match = "Conv2DBackpropFilter"   # optional: only rows whose observed failure (not the issue's text) has this
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.browser.backends import UnknownBackendError, backend_variant, split_backend_id
from harness.browser.engines import split_engine
from harness.errors import UsageError
from harness.options import comma_list, did_you_mean
from harness.results import CheckResult
from harness.verdict.known_issues import KNOWN_ISSUES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ZOO_ACCEPT_FILE = Path(__file__).with_name("zoo_accepted.toml")
SCOPES = ("models", "backends", "checks")


@dataclass(frozen=True)
class Acceptance:
    """One accepted known issue: its id, the user's reason, where it was given, and the rows it may cover (an empty
    scope: every model, backend or check; ``match``: text the row's observed failure must contain)."""

    id: str
    reason: str
    source: str
    models: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    match: str = ""

    def in_scope(self, row: CheckResult) -> bool:
        """Whether ``row`` is one this acceptance speaks about (whatever its status): models and checks by name, and
        a backend by its id (``firefox:wasm:1thread``), variant (``wasm:1thread``), tfjs backend (``wasm``: every WASM
        variant on every browser) or browser engine (``firefox``)."""
        return ((not self.models or row.model in self.models) and (not self.checks or row.check in self.checks)
                and (not self.backends or bool(backend_names(row.backend) & set(self.backends))))

    def covers(self, row: CheckResult) -> bool:
        """Whether ``row`` fails with this acceptance's known issue, in its scope."""
        issue = (row.details or {}).get("known_issue") or {}
        return issue.get("id") == self.id and self.in_scope(row) and self.match in issue.get("observed", "")

    def record(self) -> dict[str, Any]:
        """How the report lists it."""
        scope = {field: list(names) for field, names in zip(SCOPES, (self.models, self.backends, self.checks))
                 if names}
        return {"id": self.id, "reason": self.reason, "source": self.source, **scope,
                **({"match": self.match} if self.match else {})}


class AcceptList:
    """The run's acceptances: ``apply`` turns each covered row into an ``xfail``; ``block`` is the report's
    ``acceptance`` block (what each covered, and which are stale)."""

    def __init__(self, entries: Iterable[Acceptance] = ()) -> None:
        self.entries = tuple(entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __add__(self, other: AcceptList) -> AcceptList:
        return AcceptList((*self.entries, *other.entries))

    def apply(self, row: CheckResult) -> CheckResult:
        """``row``, an ``xfail`` with the reason if an acceptance covers its failure (the first that does)."""
        if row.status != "fail":
            return row
        for entry in self.entries:
            if entry.covers(row):
                row.status = "xfail"
                row.message = f"accepted ({entry.source}, {entry.reason}): {row.message}"
                row.details["accepted"] = {"reason": entry.reason, "source": entry.source}
                return row
        return row

    def block(self, rows: list[CheckResult]) -> dict[str, Any] | None:
        """The report's ``acceptance`` block: each acceptance with the rows it covered, and the stale ones (covered
        nothing although rows in their scope ran); None without acceptances."""
        if not self.entries:
            return None
        accepted, stale, unjudged = [], [], []
        for entry in self.entries:
            covered = [row for row in rows if row.status == "xfail" and entry.covers(row)]
            if covered:
                accepted.append({**entry.record(), "rows": len(covered)})
            elif any(entry.in_scope(row) for row in rows):
                stale.append(entry.record())
            else:
                unjudged.append(entry.record())
        return {"accepted": accepted, "stale": stale, "outside_this_run": unjudged}


def backend_names(backend_id: str) -> set[str]:
    """The names a backend scope may give ``backend_id`` by (see ``Acceptance.in_scope``)."""
    engine, _ = split_engine(backend_id)
    variant, _ = split_backend_id(backend_id)
    try:
        tfjs_backend = backend_variant(backend_id).tfjs_backend
    except UnknownBackendError:
        tfjs_backend = variant
    return {backend_id, variant, tfjs_backend, engine.name}


def accepted_ids(text: str, option: str = "--accept", reason: str = "") -> AcceptList:
    """``--accept ID[,ID]`` (or the pytest API's ``accept=``) as acceptances everywhere; an unknown id is a
    ``UsageError`` naming ``option`` and the ids there are."""
    ids = comma_list(text)
    for issue_id in ids:
        _known(issue_id, option)
    return AcceptList(Acceptance(issue_id, reason or "no reason given", option) for issue_id in ids)


def read_accept_file(path: Path, label: str | None = None) -> AcceptList:
    """The acceptances of an accept file (see the module's docstring), each naming ``label`` (default: the path) as
    its source; a ``UsageError`` names the file and the field that is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"accept file {path}: cannot be read: {error.strerror or error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"accept file {path}: not valid TOML: {error}") from error
    extra = sorted(set(raw) - {"accept"})
    if extra or not isinstance(raw.get("accept"), dict):
        raise UsageError(f"accept file {path}: needs one [accept] table of known issue ids"
                         + (f" (unknown field {extra[0]!r})" if extra else ""))
    return AcceptList(_entry(path, issue_id, value, label or str(path)) for issue_id, value in raw["accept"].items())


def zoo_acceptances() -> AcceptList:
    """The zoo's own accepted list."""
    return read_accept_file(ZOO_ACCEPT_FILE, "the zoo's accepted list, harness/verdict/zoo_accepted.toml")


def _entry(path: Path, issue_id: str, value: Any, source: str) -> Acceptance:
    where = f"accept file {path}: [accept] {issue_id}"
    _known(issue_id, where)
    fields = {"reason": value} if isinstance(value, str) else value
    if not isinstance(fields, dict):
        raise UsageError(f"{where}: give a reason (a string), or a table with reason and optional {', '.join(SCOPES)}, "
                         "match")
    unknown = sorted(set(fields) - {"reason", "match", *SCOPES})
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r} (fields: reason, {', '.join(SCOPES)}, match)")
    reason = fields.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(f"{where}: needs a reason: why you live with it")
    scopes = {}
    for scope in SCOPES:
        names = fields.get(scope, [])
        if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
            raise UsageError(f"{where}: {scope} must be a list of names")
        scopes[scope] = tuple(names)
    match = fields.get("match", "")
    if not isinstance(match, str):
        raise UsageError(f"{where}: match must be a string")
    return Acceptance(issue_id, reason.strip(), source, match=match, **scopes)


def _known(issue_id: str, where: str) -> None:
    if issue_id not in KNOWN_ISSUES:
        raise UsageError(f"{where}: no known issue {issue_id!r}{did_you_mean(issue_id, tuple(KNOWN_ISSUES))} "
                         f"(known: {', '.join(KNOWN_ISSUES)})")
