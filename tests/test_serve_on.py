"""``--serve-on``: the page served on another address for a remote browser, every route guarded by the run's secret
cookie (``browser.server``). The remote browser's own test is in ``test_remote_browsers``."""

import re
import urllib.error
import urllib.request

import pytest

from harness.browser.server import SECRET_COOKIE, ParityServer, ServeAddress, parse_serve_on
from harness.errors import UsageError


@pytest.mark.parametrize(("text", "address"), [
    ("10.0.0.5", ServeAddress("10.0.0.5", 0)), ("10.0.0.5:8765", ServeAddress("10.0.0.5", 8765)),
    ("[fd00::5]:8765", ServeAddress("fd00::5", 8765)), ("[::1]", ServeAddress("::1", 0)),
])
def test_an_address_and_an_optional_port(text, address):
    assert parse_serve_on(text) == address
    assert ServeAddress("fd00::5", 1).url_host == "[fd00::5]"


@pytest.mark.parametrize(("text", "said"), [
    ("grid.local:80", "'grid.local' is not an IP address"), ("0.0.0.0", "listens on every interface"),
    ("10.0.0.5:99999", "port 99999 is past 65535"), ("10.0.0.5:port", "give ADDRESS[:PORT]"),
])
def test_what_is_not_an_address_is_named(text, said):
    with pytest.raises(UsageError, match=re.escape(said)):
        parse_serve_on(text)


def fetch(url, cookie=None, data=None):
    request = urllib.request.Request(url, data=data, headers={"Cookie": f"{SECRET_COOKIE}={cookie}"} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_route_answers_404_without_the_runs_secret_and_serves_with_it():
    with ParityServer(serve_on=ServeAddress("127.0.0.1")) as server:
        assert server.secret and len(server.secret) >= 40 and server.secret not in server.origin
        mount = server.mount(server.slots.root)
        for path in ("/", "/web/page.js", "/tfjs/tfjs/tf.min.js"):
            assert fetch(server.origin + path) == 404, path
            assert fetch(server.origin + path, "wrong") == 404, path
            assert fetch(server.origin + path, server.secret) == 200, path
        assert fetch(server.upload_url("slot"), data=b"x") == 404
        assert fetch(mount + "anything", server.secret) == 404  # the guard lets through; the route still refuses
    with ParityServer() as loopback:  # the default: 127.0.0.1, no secret
        assert loopback.cookie is None and fetch(loopback.origin + "/") == 200


def test_an_address_that_is_not_this_machines_is_a_setup_error_naming_the_option():
    from harness.errors import SetupError

    with pytest.raises(SetupError, match=r"cannot serve the page on 192\.0\.2\.254:0 \(--serve-on\)"):
        ParityServer(serve_on=ServeAddress("192.0.2.254")).start()


def this_machines_address() -> str:
    """An address of this machine other than loopback (the one its default route leaves from), else 127.0.0.1."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: the kernel only picks the route
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@pytest.mark.browser
@pytest.mark.parametrize(("browsers", "backends"), [("chromium", "cpu,wasm"), ("webkit", "cpu")])
def test_a_check_served_on_this_machines_address_passes_with_the_cookie_given_to_its_pages(
        browsers, backends, tmp_path, capsys, monkeypatch):
    """Chromium over Playwright (the page's origin declared a secure context: threaded WASM runs) and WebKitGTK over
    WebDriver (the cookie set on a 404 of the origin before the page loads). The secret is in no file of the report
    and not in the terminal."""
    import json

    from harness.browser import server

    secret = "a-known-secret-for-this-test-only-0123456789"
    monkeypatch.setattr(server.secrets, "token_urlsafe", lambda _: secret)

    from conftest import run_cli, small_keras_model
    from harness import cli

    small_keras_model(0).save(tmp_path / "model.h5")
    status = run_cli(["check", str(tmp_path / "model.h5"), "--browsers", browsers, "--backends", backends,
                      "--serve-on", this_machines_address(), "--checks", "predict", "--out", str(tmp_path / "out")])
    output = capsys.readouterr()
    assert status == cli.EXIT_PASS, output.out + output.err
    report = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert {r["status"] for r in report["results"]} == {"pass"}
    assert len(report["results"]) == 2 * len(backends.split(","))  # preflight and predict per backend
    assert secret not in output.out + output.err
    for path in (tmp_path / "out").rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
