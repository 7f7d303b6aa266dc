"""The aiohttp server the page talks to: the page, the pinned tfjs bundles, and mounted model folders.

It binds to 127.0.0.1 by default and serves nothing else: no directory listings, no ``..``, no
symlinks, GET/HEAD only except the upload route for models the page saves with ``tf.io.http``
(see ``uploads``), which writes only into the run's private slot store (``slots``). Every response is
cross-origin isolated (COOP/COEP), which threaded WASM needs. It runs on its own event loop in a
daemon thread so Playwright's sync API can drive the browser from the caller's thread.

``--serve-on ADDRESS[:PORT]`` binds it to an address a remote browser can reach instead. Then a secret made for the
run guards every route: a request without the run's cookie (``SECRET_COOKIE``, which the harness gives its own pages
before their first navigation) gets 404, uploads included. The secret is in no URL, so no report or message can
print it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from harness.browser.slots import SlotStore
from harness.browser.tfjs_versions import TfjsSelection, select_tfjs
from harness.browser.uploads import DEFAULT_UPLOAD_LIMIT_BYTES, SLOTS, UPLOAD_LIMIT, upload
from harness.browser.web_assets import BUNDLE_FILES, PAGE_FILE_SUFFIXES, web_dir
from harness.errors import SetupError, UsageError

CONTENT_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".json": "application/json",
    ".bin": "application/octet-stream",
    ".html": "text/html",
    ".css": "text/css",
    ".map": "application/json",
}
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

LOOPBACK = "127.0.0.1"
SECRET_COOKIE = "tfjs-parity-key"
SERVE_ON = re.compile(r"\[(?P<v6>[^\]]+)\](?::(?P<port6>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<port>\d+))?")

PAGE_DIR = web.AppKey("page_dir", Path)
MOUNTS = web.AppKey("mounts", dict[str, Path])
TFJS_DIRS = web.AppKey("tfjs_dirs", dict[str, Path])
SERVED_BUNDLES = web.AppKey("served_bundles", dict[str, dict[str, object]])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ServeAddress:
    """Where the server listens: an IP address of this machine, and a port (0: any free one)."""

    host: str
    port: int = 0

    @property
    def url_host(self) -> str:
        """The host as a URL writes it (an IPv6 address in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host


def parse_serve_on(text: str) -> ServeAddress:
    """``--serve-on ADDRESS[:PORT]`` (``10.0.0.5``, ``10.0.0.5:8765``, ``[fd00::5]:8765``); a ``UsageError`` names
    what is wrong."""
    found = SERVE_ON.fullmatch(text.strip())
    if not found:
        raise UsageError(f"--serve-on {text}: give ADDRESS[:PORT], e.g. 10.0.0.5:8765 or [fd00::5]:8765")
    host, port = found["v6"] or found["host"], int(found["port6"] or found["port"] or 0)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--serve-on {text}: '{host}' is not an IP address (give the address of this machine that "
                         "the browser reaches)") from None
    if address.is_unspecified:
        raise UsageError(f"--serve-on {text}: {host} listens on every interface; give the one address the browser "
                         "reaches this machine at")
    if port > 65535:
        raise UsageError(f"--serve-on {text}: port {port} is past 65535")
    return ServeAddress(str(address), port)


def safe_file(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it is a regular file inside ``root`` reached without symlinks, else None."""
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        return None
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            return None
    if not path.is_file():
        return None
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return path


def _file_response(path: Path | None) -> web.StreamResponse:
    if path is None:
        raise web.HTTPNotFound(text="not found")
    content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": content_type})


@web.middleware
async def isolation_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cross-origin isolation and no-sniff on every response, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers.update(ISOLATION_HEADERS)
        raise
    response.headers.update(ISOLATION_HEADERS)
    return response


def guarded_by(secret: str) -> Middleware:
    """A middleware answering 404 to every request without the cookie that holds ``secret``."""
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not hmac.compare_digest(request.cookies.get(SECRET_COOKIE, "").encode(), secret.encode()):
            raise web.HTTPNotFound(text="not found")
        return await handler(request)

    return guard


async def index(request: web.Request) -> web.StreamResponse:
    return _file_response(safe_file(request.app[PAGE_DIR], "index.html"))


async def page_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = safe_file(request.app[PAGE_DIR], name)
    if path is not None and path.suffix not in PAGE_FILE_SUFFIXES:
        path = None
    return _file_response(path)


async def tfjs_file(request: web.Request) -> web.StreamResponse:
    package, name = request.match_info["package"], request.match_info["name"]
    dist = request.app[TFJS_DIRS].get(package)
    path = safe_file(dist, name) if dist and name in BUNDLE_FILES[package.split("@")[0]] else None
    if path is not None and request.path not in request.app[SERVED_BUNDLES]:
        request.app[SERVED_BUNDLES][request.path] = _bundle_record(path)
    return _file_response(path)


def _bundle_record(path: Path) -> dict[str, object]:
    """What the report says about a served bundle file: where it is, its package's version, size and sha256."""
    manifest = path.parent.parent / "package.json"
    version = json.loads(manifest.read_text()).get("version") if manifest.is_file() else None
    data = path.read_bytes()
    return {"file": str(path), "version": version, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


async def mounted_file(request: web.Request) -> web.StreamResponse:
    root = request.app[MOUNTS].get(request.match_info["mount"])
    return _file_response(safe_file(root, request.match_info["tail"]) if root else None)


def make_app(slots: SlotStore, upload_limit: int = DEFAULT_UPLOAD_LIMIT_BYTES,
             tfjs: TfjsSelection | None = None, secret: str | None = None) -> web.Application:
    """The application: ``/`` page and ``/web/<file>`` from ``web_assets.web_dir()``,
    ``/tfjs/<package>[@<version>]/<bundle>`` from ``tfjs`` (default: the pinned version; the bundle files the
    page loads, no other), ``/files/<mount>/<path>``, and ``POST /upload/<slot>`` into ``slots``; with ``secret``,
    only to requests that carry it (``guarded_by``)."""
    app = web.Application(middlewares=[isolation_headers, *([guarded_by(secret)] if secret else [])])
    app[PAGE_DIR] = web_dir()
    app[MOUNTS] = {}
    app[SLOTS] = slots
    app[UPLOAD_LIMIT] = upload_limit
    app[TFJS_DIRS] = (tfjs or select_tfjs()).dist_directories()
    app[SERVED_BUNDLES] = {}
    app.router.add_get("/", index)
    app.router.add_get("/web/{name}", page_file)
    app.router.add_get("/tfjs/{package}/{name}", tfjs_file)
    app.router.add_get("/files/{mount}/{tail:.+}", mounted_file)
    app.router.add_post("/upload/{slot}", upload)
    return app


class ParityServer:
    """The app running on 127.0.0.1 on a free port (or at ``serve_on``, guarded by a secret of its own), in a daemon
    thread with its own event loop.

    ``slots`` is the run's private store of models the browser saved; ``upload_limit`` caps
    one upload's body in bytes.
    """

    def __init__(self, upload_limit: int = DEFAULT_UPLOAD_LIMIT_BYTES, tfjs: TfjsSelection | None = None,
                 serve_on: ServeAddress | None = None) -> None:
        self.address = serve_on or ServeAddress(LOOPBACK)
        self.secret = secrets.token_urlsafe(32) if serve_on else None
        self.slots = SlotStore()
        self.app = make_app(self.slots, upload_limit, tfjs, self.secret)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app, access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, name="parity-server", daemon=True)
        self._mount_ids = itertools.count(1)
        self._slots_prefix = ""
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://{self.address.url_host}:{self.port}"

    @property
    def cookie(self) -> dict[str, str] | None:
        """The cookie a page needs before its first request (``--serve-on``), or None on loopback."""
        return {"name": SECRET_COOKIE, "value": self.secret} if self.secret else None

    @property
    def insecure_origin(self) -> str | None:
        """The origin when it is plain HTTP on an address other than loopback (a browser does not count it a secure
        context, so no cross-origin isolation: no threaded WASM, no WebGPU), else None."""
        return self.origin if not ipaddress.ip_address(self.address.host).is_loopback else None

    def start(self) -> ParityServer:
        """Start serving; returns self."""
        if "tfjs" not in self.app[TFJS_DIRS]:
            raise SetupError(
                f"tfjs bundles missing in {self.app[PAGE_DIR] / 'node_modules'}: run `npm ci` in web/ (make test / "
                "make report do it), or pass --tfjs-dir with your app's node_modules")
        self.slots.open()
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        except OSError as error:  # no free port, no loopback interface, or not this machine's address
            self.stop()
            where = f"{self.address.url_host}:{self.address.port} (--serve-on)" if self.secret else LOOPBACK
            raise SetupError(f"cannot serve the page on {where}: {error}") from None
        self._slots_prefix = self.mount(self.slots.root)
        return self

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address.host, self.address.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def mount(self, directory: Path) -> str:
        """Serve the files under ``directory``; returns the URL prefix (ending in ``/``) they appear at."""
        mount_id = f"m{next(self._mount_ids)}"
        self.app[MOUNTS][mount_id] = directory.resolve()
        return f"{self.origin}/files/{mount_id}/"

    def served_bundles(self) -> dict[str, dict[str, object]]:
        """Every tfjs bundle file the page and its workers fetched: URL path -> file, version, bytes, sha256."""
        return dict(sorted(self.app[SERVED_BUNDLES].items()))

    def upload_url(self, slot: str) -> str:
        """Where the page saves a model with ``tf.io.http`` to fill ``slot``."""
        return f"{self.origin}/upload/{slot}"

    def saved_url(self, slot: str, file: str) -> str:
        """Where the page loads ``file`` of a filled ``slot`` from."""
        return f"{self._slots_prefix}{slot}/{file}"

    def name_saved_files(self, message: str) -> str:
        """``message`` with the page's URLs of saved models replaced by their paths on disk."""
        if not self._slots_prefix:
            return message
        return message.replace(self._slots_prefix, f"{self.slots.root}/")

    def stop(self) -> None:
        """Stop serving, end the server thread and remove the slot store."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()  # else its selector is closed by the garbage collector, which complains
        self.slots.close()

    def __enter__(self) -> ParityServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
