"""A run's (model, backend) groups over one or more browsers in parallel: launched here, or remote endpoints.

Each browser gets its own ``ParitySession`` (server and browser) on its own thread, since
Playwright's sync API belongs to the thread that started it; a single browser runs on the calling
thread. Browsers take the next group as they finish one. When a remote endpoint is lost mid-run (a
browser launched here is launched again by its session instead), the row of the check in flight is
dropped and the group's unfinished checks go back to the front of the queue for another browser;
with none left, they become ``error`` rows naming the lost endpoint. No finished row is lost: each reaches the listener
as it finishes, under one lock, and ``after_group`` runs after each group (the caller rewrites its
report there).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import split_engine
from harness.errors import HarnessError, SetupError, UsageError
from harness.results import CheckResult
from harness.run.interrupt import signalled
from harness.run.session import ParitySession, ResultListener

LOCAL = "local browser"  # how messages name the browser launched here (numbered when there are several)


@dataclass(frozen=True)
class Group:
    """The checks of one model on one backend, run in order in one browser."""

    model: str
    backend: str
    checks: tuple[str, ...]
    repeat: int = 0  # 0: the run's rows; 1, 2...: the same checks again (``run --repeat``)


RunCheck = Callable[[ParitySession, Group, str], CheckResult]
MakeSession = Callable[[BrowserEndpoint | None, ResultListener], ParitySession]


class BrowserLostError(HarnessError):
    """The browser of a session is gone; the check in flight must run again elsewhere."""


class Shards:
    """Runs groups on ``browsers``: each a remote endpoint, or ``None`` for a browser launched here (``(None, None)``:
    two launched here)."""

    def __init__(self, browsers: Sequence[BrowserEndpoint | None], make_session: MakeSession,
                 on_result: ResultListener, after_group: Callable[[], object] = lambda: None) -> None:
        self._browsers = tuple(browsers)
        local = sum(endpoint is None for endpoint in self._browsers)
        numbers = iter(range(1, local + 1))
        self._names = tuple((f"{LOCAL} {next(numbers)}" if local > 1 else LOCAL) if endpoint is None
                            else endpoint.name for endpoint in self._browsers)
        self._make_session = make_session
        self._on_result = on_result
        self._after_group = after_group
        self._lock = threading.RLock()  # the listener, the queue and the environments
        self._ready = threading.Condition(self._lock)
        self._queue: deque[Group] = deque()
        self._busy = 0  # groups in flight, which may come back to the queue
        self._environments: dict[str, dict[str, Any]] = {}
        self.lost: dict[str, str] = {}  # browser name -> why it was lost (or could not start)
        self._started: list[str] = []
        self._crash: BaseException | None = None
        self.stopped = False  # set on an interrupt: rows that finish later are dropped, no group starts

    def run(self, groups: Sequence[Group], run_check: RunCheck) -> None:
        """Run every group; returns when each of its checks has a row. ``SetupError`` if no browser could start
        (with one browser, the error it started with); ``UsageError`` if no endpoint runs a group's engine."""
        unserved = sorted(e for e in {_engine(g) for g in groups} if not any(_serves(b, e) for b in self._browsers))
        if unserved:
            raise UsageError(f"--browser-endpoint: no endpoint runs {', '.join(unserved)} backends (a WebDriver "
                             "endpoint runs the engine its \"engine\" or browserName names)")
        self._queue.extend(groups)
        if len(self._browsers) == 1:
            self._work(self._browsers[0], self._names[0], run_check, raise_on_start=True)
        else:
            threads = [threading.Thread(target=self._work, args=(endpoint, name, run_check), name=f"shard-{name}",
                                        daemon=True) for endpoint, name in zip(self._browsers, self._names)]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except KeyboardInterrupt:
                self.stop()
                raise
            if self._crash is not None:
                raise self._crash
            if not self._started:
                raise SetupError("no browser endpoint could be used:\n" + "\n".join(
                    f"  {name}: {reason}" for name, reason in self.lost.items()))
        for group in self._queue:  # every browser was lost: what is left cannot run
            for check in group.checks:
                self._accept(None, self._lost_row(group, check))
        self._queue.clear()

    def stop(self) -> None:
        """Start no more groups and drop every row from now on: the run was interrupted, and the checks in flight
        end with their browsers (see ``run.interrupt``)."""
        with self._ready:
            self.stopped = True
            self._queue.clear()
            self._ready.notify_all()

    def environment(self) -> dict[str, Any]:
        """The report's environment: each browser's, merged (see ``merge_environments``), with the lost ones."""
        with self._lock:
            merged = merge_environments(list(self._environments.values()))
            if len(self._started) > 1:
                merged["browsers_sharing_the_run"] = list(self._started)
            if self.lost:
                merged["browser_endpoints_lost"] = dict(self.lost)
            return merged

    def _work(self, endpoint: BrowserEndpoint | None, name: str, run_check: RunCheck,
              raise_on_start: bool = False) -> None:
        session = self._make_session(endpoint, lambda row: self._accept(session, row))
        try:
            session.start()
        except HarnessError as error:
            if raise_on_start:
                raise
            with self._lock:
                self.lost[name] = f"could not start: {error}"
            return
        with self._lock:
            self._started.append(name)
        try:
            while not self.stopped and (group := self._take(endpoint)) is not None:
                done = 0
                session.close_pages_except(group.backend)  # groups come backend by backend: free the last one's
                try:
                    for check in group.checks:
                        if self.stopped:
                            break
                        run_check(session, group, check)
                        done += 1
                except BrowserLostError as error:
                    with self._lock:
                        self.lost[name] = str(error)
                    return
                finally:
                    self._give_back(Group(group.model, group.backend, group.checks[done:], group.repeat))
                with self._lock:
                    self._environments[name] = session.environment()
                    if not self.stopped:
                        self._after_group()
        except KeyboardInterrupt:  # the single browser runs on the main thread, which the signal interrupts
            self.stop()
            raise
        except BaseException as error:  # noqa: BLE001 - a harness bug on a shard thread must reach the caller
            if self.stopped:
                return  # the interrupt ended its browser under it
            with self._lock:
                self._crash = self._crash or error
                self._queue.clear()
                self._ready.notify_all()
            if raise_on_start:
                raise
        finally:
            with self._lock:
                self._environments[name] = session.environment()
            if self.stopped:
                session.server.stop()  # the browsers end with the run's child processes: closing them may hang
            else:
                session.close()

    def _accept(self, session: ParitySession | None, row: CheckResult) -> None:
        """Hand ``row`` on, unless its browser is gone (asked after an ``error``): then the check runs again
        elsewhere."""
        if self.stopped:
            return
        signal_name = signalled()
        if signal_name is not None:  # the check ran into the signal: its row may be the signal's doing, not kept
            if threading.current_thread() is threading.main_thread():
                raise KeyboardInterrupt(signal_name)
            return
        if session is not None and row.status == "error" and not session.responsive():
            reason = row.message.strip().splitlines()[0] if row.message.strip() else "the browser disconnected"
            raise BrowserLostError(f"lost during {row.model} / {row.check} / {row.backend}: {reason}")
        with self._lock:
            self._on_result(row)

    def _take(self, endpoint: BrowserEndpoint | None) -> Group | None:
        """The next group ``endpoint`` runs (its engine's); waits while groups in flight may still come back, None
        when none is left for it."""
        with self._ready:
            while not (mine := [g for g in self._queue if _serves(endpoint, _engine(g))]) and self._busy:
                self._ready.wait()
            if not mine:
                return None
            self._busy += 1
            self._queue.remove(mine[0])
            return mine[0]

    def _give_back(self, rest: Group) -> None:
        """A group is done; its unfinished checks (if any) go to the front of the queue."""
        with self._ready:
            self._busy -= 1
            if rest.checks and self._crash is None and not self.stopped:
                self._queue.appendleft(rest)
            self._ready.notify_all()

    def _lost_row(self, group: Group, check: str) -> CheckResult:
        lost = "; ".join(f"{name} {reason}" for name, reason in self.lost.items())
        return CheckResult(model=group.model, backend=group.backend, check=check, status="error",
                           message=f"not run: every browser was lost ({lost})", details={"endpoint": list(self.lost)})


def _engine(group: Group) -> str:
    return split_engine(group.backend)[0].name


def _serves(browser: BrowserEndpoint | None, engine: str) -> bool:
    """Whether ``browser`` (an endpoint, or None: one launched here) runs ``engine``'s backends."""
    return browser is None or browser.serves(engine)


def merge_environments(environments: list[dict[str, Any]]) -> dict[str, Any]:
    """One environment block from several sessions': values that differ are joined (``browser``, ``tfjs``), the
    per-endpoint, per-backend and per-bundle facts merged (the first session's facts of a backend win)."""
    if not environments:
        return {}
    merged = dict(environments[0])
    for key in ("browser", "tfjs"):
        merged[key] = ", ".join(dict.fromkeys(str(e[key]) for e in environments if e.get(key))) or None
    for key in ("browser_endpoints", "backends", "tfjs_bundles"):
        combined: dict[str, Any] = {}
        for environment in environments:
            combined.update({k: v for k, v in (environment.get(key) or {}).items() if k not in combined})
        if combined:
            merged[key] = combined
    return merged
