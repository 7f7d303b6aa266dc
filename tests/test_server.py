"""The server serves only what it means to, cross-origin isolated, on 127.0.0.1 (plain HTTP, no browser)."""

import http.client

import pytest

from harness.browser.server import ParityServer, safe_file


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    (root / "model.json").write_text("{}")
    (root / "sub").mkdir()
    (root / "sub" / "weights.bin").write_bytes(b"\0" * 8)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("SECRET")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside)
    with ParityServer() as server:
        prefix = server.mount(root).removeprefix(server.origin)
        yield server, prefix


def request(server, path, method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_binds_to_loopback_only(served):
    server, _ = served
    assert server.origin.startswith("http://127.0.0.1:")
    assert {address[0] for address in server._runner.addresses} == {"127.0.0.1"}


@pytest.mark.parametrize("path", ["/", "/web/page.js", "/tfjs/tfjs/tf.min.js"])
def test_page_and_bundles_are_served_isolated(served, path):
    response, _ = request(served[0], path)
    assert response.status == 200
    assert response.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"


def test_wasm_is_served_as_application_wasm(served):
    response, body = request(served[0], "/tfjs/tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm")
    assert response.status == 200 and response.getheader("Content-Type") == "application/wasm"
    assert body[:4] == b"\0asm"


def test_mounted_files_are_served(served):
    server, prefix = served
    response, body = request(server, prefix + "sub/weights.bin")
    assert response.status == 200 and body == b"\0" * 8


@pytest.mark.parametrize("tail", [
    "", "sub", "sub/", "../outside/secret.txt", "%2e%2e/secret.txt", "sub/../model.json", "link.txt",
    "linkdir/secret.txt", "missing.json", "sub%2f..%2f..%2fsecret.txt",
])
def test_listings_escapes_and_symlinks_are_refused(served, tail):
    server, prefix = served
    response, body = request(server, prefix + tail)
    assert response.status == 404
    assert b"SECRET" not in body
    assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"


@pytest.mark.parametrize("path", [
    "/web/package.json", "/web/package-lock.json", "/web/node_modules/@tensorflow/tfjs/package.json",
    "/tfjs/tfjs-core/tf-core.min.js", "/tfjs/tfjs/../package.json", "/files/nope/model.json", "/etc/passwd",
    "/tfjs/tfjs/tf.js", "/tfjs/tfjs/tf.min.js.map", "/tfjs/tfjs-backend-wasm/tf-backend-wasm.node.js",
])
def test_nothing_else_is_served(served, path):
    response, _ = request(served[0], path)
    assert response.status == 404


def test_only_get_and_head(served):
    server, prefix = served
    assert request(server, prefix + "model.json", "HEAD")[0].status == 200
    assert request(server, prefix + "model.json", "POST")[0].status == 405
    assert request(server, prefix + "model.json", "PUT")[0].status == 405


def test_safe_file_rejects_traversal(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    assert safe_file(tmp_path, "a.txt") == tmp_path / "a.txt"
    for bad in ("", "../a.txt", "./a.txt", "a.txt/", "/etc/passwd", "a\\b", "x\0"):
        assert safe_file(tmp_path, bad) is None
