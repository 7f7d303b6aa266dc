"""The browser fails under a check: killed (as the kernel's OOM killer would), or its WebGL context lost (as
when the GPU process crashes). Only that check is an ``error`` naming what happened; the next one passes. And a
page that does not load: tried once more, then named with the step and the requests it was waiting for."""

import asyncio
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

from harness.browser.page import PageLoadTimeoutError, PageOperation
from harness.checks.inference import compare_predictions
from harness.run.session import ParitySession

pytestmark = pytest.mark.browser


def browser_pid(session):
    """The process id of the session's Chromium (its main process), from the browser itself."""
    cdp = session.browser()._browser.new_browser_cdp_session()
    processes = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    return next(p["id"] for p in processes if p["type"] == "browser")


def kill_during_a_check_then_check_again(reference):
    """In a session of its own (its browser is killed): ``predict`` with Chromium SIGKILLed mid-check, then
    ``predict`` on cpu and wasm. Runs on a thread of its own: this test thread's asyncio loop may already belong
    to the shared session's Playwright."""
    with ParitySession(timeout_s=60) as session:
        def killed_midway(context):
            model_id = context.page.call(PageOperation.LOAD, context.model_url)
            os.kill(browser_pid(session), signal.SIGKILL)
            return compare_predictions(context, model_id)

        killed = session.run_check("predict", reference, "cpu", killed_midway)
        return killed, [session.run_check("predict", reference, backend) for backend in ("cpu", "wasm")]


def test_a_browser_killed_during_a_check_is_launched_again_and_only_that_check_errs(parity_references):
    with ThreadPoolExecutor(max_workers=1) as pool:
        killed, after = pool.submit(kill_during_a_check_then_check_again, parity_references["mlp"]).result()
    assert killed.status == "error", killed.message
    assert "The browser was gone after this check" in killed.message and "launched again" in killed.message
    for row in after:
        assert row.status == "pass", row.message


def test_a_webgl_context_lost_during_a_check_is_an_error_and_the_next_check_passes(parity_session, parity_references):
    reference = parity_references["cnn"]

    def context_lost_midway(context):
        model_id = context.page.call(PageOperation.LOAD, context.model_url)
        context.page.page.evaluate("tf.backend().gpgpu.gl.getExtension('WEBGL_lose_context').loseContext()")
        return compare_predictions(context, model_id)

    lost = parity_session.run_check("predict", reference, "webgl", context_lost_midway)
    assert lost.status == "error", lost.message
    assert "the WebGL context was lost" in lost.message and "during 'predict'" in lost.message, lost.message
    after = parity_session.run_check("predict", reference, "webgl")
    assert after.status == "pass", after.message


def session_with_stalled_bundles(stalls: int) -> tuple[ParitySession, list[str]]:
    """A session (5 s timeout) whose server answers its first ``stalls`` requests for a tfjs bundle file only after
    6 s (past the page's timeout; not longer, so that the server stops at once); the list gets each stalled path."""
    session = ParitySession(timeout_s=5)
    stalled: list[str] = []

    @web.middleware
    async def stall(request, handler):
        if request.path.startswith("/tfjs/") and len(stalled) < stalls:
            stalled.append(request.path)
            await asyncio.sleep(6)
        return await handler(request)

    session.server.app.middlewares.append(stall)
    return session, stalled


def open_page(stalls):
    session, stalled = session_with_stalled_bundles(stalls)
    with session:
        try:
            return session.page("cpu").info, stalled
        except PageLoadTimeoutError as error:
            return error, stalled


def test_a_page_that_did_not_load_is_tried_once_more():
    with ThreadPoolExecutor(max_workers=1) as pool:  # a Playwright of its own: see above
        info, stalled = pool.submit(open_page, 1).result()
    assert len(stalled) == 1
    assert info["backend"] == "cpu", info


def test_a_page_that_never_loads_names_the_step_and_the_unanswered_request():
    with ThreadPoolExecutor(max_workers=1) as pool:
        error, stalled = pool.submit(open_page, 1000).result()
    assert isinstance(error, PageLoadTimeoutError), error
    message = str(error)
    assert message.startswith("the page for cpu did not load within 5 s (--timeout), navigating to the page; "
                              "no answer yet to "), message
    assert stalled[0] in message and message.endswith("(on two tries)"), message
