"""The page's own SHA-256 (``web/storage.js``), used for weights' fingerprints where a page is not a secure context
and has no ``crypto.subtle`` (a remote browser on ``--serve-on``): equal to Python's for every padding case."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

STORAGE_JS = Path(__file__).resolve().parent.parent / "web" / "storage.js"
# Around each 64-byte block's padding limits (55/56 bytes leave no room for the length), and a long input.
LENGTHS = [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]


def _portable_sha256_source() -> str:
    source = STORAGE_JS.read_text()
    start, end = source.index("  const primes = [];"), source.index("  function sha256Portable(")
    body_end = source.index("    return digest;\n  }\n", end) + len("    return digest;\n  }\n")
    return source[start:body_end]


def _bytes(length: int) -> bytes:
    return bytes((i * 131 + 7) & 255 for i in range(length))


def _node_digests(source: str) -> list[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (make setup installs it with the page's npm dependencies)")
    script = source + (
        f"console.log(JSON.stringify({LENGTHS}.map(n => Array.from(sha256Portable(Uint8Array.from("
        "{length: n}, (_, i) => (i * 131 + 7) & 255)), x => x.toString(16).padStart(2, '0')).join(''))));")
    return json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True,
                                     timeout=60).stdout)


def test_the_pages_portable_sha256_is_sha256():
    assert _node_digests(_portable_sha256_source()) == [hashlib.sha256(_bytes(n)).hexdigest() for n in LENGTHS]


def test_a_planted_error_in_it_is_caught():
    """The comparison above can fail: one rotation changed gives other digests for every length."""
    planted = _portable_sha256_source().replace("ror(e, 6)", "ror(e, 7)")
    digests = _node_digests(planted)
    assert all(d != hashlib.sha256(_bytes(n)).hexdigest() for d, n in zip(digests, LENGTHS))
