"""The upload endpoint treats uploads as hostile (plain HTTP against the real server, no browser)."""

import http.client
import json
import subprocess
import sys
import uuid

import pytest

from harness.browser.server import ParityServer

LIMIT = 4096


@pytest.fixture(scope="module")
def server():
    with ParityServer(upload_limit=LIMIT) as running:
        yield running


def multipart(parts, boundary=None):
    """A multipart/form-data body from (name, filename, bytes) triples, as a browser's FormData sends."""
    boundary = boundary or uuid.uuid4().hex
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(server, path, body, content_type, chunked=False):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Content-Type": content_type}
    if chunked:
        connection.request("POST", path, body=iter([body]), headers={**headers, "Transfer-Encoding": "chunked"},
                           encode_chunked=True)
    else:
        connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    connection.close()
    return response.status, text


def upload_path(server):
    return server.upload_url(server.slots.reserve("uploads")).removeprefix(server.origin)


def stored(server):
    return sorted(str(p.relative_to(server.slots.root)) for p in server.slots.root.rglob("*"))


TFJS_PARTS = [("model.json", "model.json", b'{"modelTopology": {}}'),
              ("model.weights.bin", "model.weights.bin", b"\0" * 8)]


def test_accepts_what_tfjs_sends_and_serves_it_back(server):
    path = upload_path(server)
    status, text = post(server, path, *multipart(TFJS_PARTS))
    assert status == 200, text
    answer = json.loads(text)
    assert answer["files"] == {"model.json": 21, "model.weights.bin": 8}
    slot_dir = server.slots.directory(answer["slot"])
    assert (slot_dir / "model.weights.bin").read_bytes() == b"\0" * 8
    url = server.saved_url(answer["slot"], "model.json").removeprefix(server.origin)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", url)
    assert connection.getresponse().read() == b'{"modelTopology": {}}'
    # A slot takes one upload only.
    status, text = post(server, path, *multipart(TFJS_PARTS))
    assert status == 404 and "no such upload slot" in text


@pytest.mark.parametrize(("parts", "expected"), [
    ([("weights", "weights", b"x")], "unexpected part 'weights'; accepted parts: model.json, model.weights.bin"),
    ([("model.json", "../../evil.json", b"{}")], "part 'model.json' has filename '../../evil.json'"),
    ([("model.json", "/etc/passwd", b"{}")], "the only accepted filename is 'model.json'"),
    ([("model.json", "sub/model.json", b"{}")], "has filename 'sub/model.json'"),
    ([("../model.json", "model.json", b"{}")], "unexpected part '../model.json'"),
    ([TFJS_PARTS[0], TFJS_PARTS[0]], "part 'model.json' sent twice"),
    ([TFJS_PARTS[1]], "no 'model.json' part"),
])
def test_refuses_anything_but_tfjs_parts(server, parts, expected):
    before = stored(server)
    status, text = post(server, upload_path(server), *multipart(parts))
    assert status == 400 and expected in text, text
    assert stored(server) == before  # nothing written, no staging left behind


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_refuses_a_body_over_the_limit(server, chunked):
    before = stored(server)
    parts = [TFJS_PARTS[0], ("model.weights.bin", "model.weights.bin", b"\1" * (LIMIT + 1))]
    status, text = post(server, upload_path(server), *multipart(parts), chunked=chunked)
    assert status == 413 and f"limit of {LIMIT} bytes" in text, text
    assert stored(server) == before


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/octet-stream"])
def test_refuses_a_body_that_is_not_multipart(server, content_type):
    status, text = post(server, upload_path(server), b'{"modelTopology": {}}', content_type)
    assert status == 415 and "must be multipart/form-data" in text, text


def test_refuses_a_malformed_multipart_body(server):
    status, text = post(server, upload_path(server), b"not multipart at all", "multipart/form-data")
    assert status == 400 and "malformed multipart body" in text, text


@pytest.mark.parametrize("slot", ["uploads-0000000000000000", "%2e%2e", "downloads-x"])
def test_refuses_a_slot_python_did_not_reserve(server, slot):
    before = stored(server)
    status, text = post(server, f"/upload/{slot}", *multipart(TFJS_PARTS))
    assert status == 404 and "no such upload slot" in text, text
    assert stored(server) == before


def test_upload_endpoint_takes_post_only(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", upload_path(server))
    assert connection.getresponse().status == 405


def test_the_store_is_private_and_removed_on_stop():
    with ParityServer() as running:
        root = running.slots.root
        assert root.stat().st_mode & 0o777 == 0o700
    assert not root.exists()


def test_an_interrupted_run_removes_every_open_store_its_servers_will_not_close():
    """``run.interrupt.end_everything_started`` calls ``remove_open_stores`` once it has ended the browsers. In a
    process of its own: it removes every store of the process, this test process's servers' too."""
    program = """if True:
        from harness.browser.slots import SlotStore, remove_open_stores
        stores = [SlotStore().open(), SlotStore().open()]
        _, directory = stores[0].create("uploads")
        (directory / "model.json").write_text("{}")
        remove_open_stores()
        print(sum(store.root.exists() for store in stores))
        stores[0].close()  # still safe after
    """
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0", done.stderr


def test_a_slot_python_filled_itself_takes_no_upload(server):
    slot, directory = server.slots.create("downloads")
    assert directory.is_dir() and not any(directory.iterdir())
    status, text = post(server, f"/upload/{slot}", *multipart(TFJS_PARTS))
    assert status == 404 and "no such upload slot" in text
    assert not any(directory.iterdir())
