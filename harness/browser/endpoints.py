"""Remote browser servers speaking Playwright's protocol (``--browser-endpoint``).

The option takes comma-separated ``ws://``/``wss://`` URLs, or a JSON file holding a list of
endpoints, each an object with ``url`` and optionally ``name`` (how reports and progress lines call
it), ``launch`` (Playwright launch options for the server to apply, such as ``executablePath`` or
``channel``; a server started without ``--unsafe`` ignores most of them) and ``headers`` (sent on
connect, e.g. a cloud grid's access token). Reports never show a URL's query string, where cloud
grids put credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import UsageError
from harness.options import comma_list

ENTRY_FIELDS = ("url", "name", "launch", "headers")


@dataclass(frozen=True)
class BrowserEndpoint:
    """One remote browser server: where it is, what to call it, what to ask it to launch."""

    url: str
    name: str
    launch: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        """The URL without its query string and user info (which may hold credentials)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def parse_endpoints(raw: str, option: str = "--browser-endpoint") -> tuple[BrowserEndpoint, ...]:
    """The endpoints ``raw`` names (URLs or a JSON file, see the module); a ``UsageError`` names ``option``, the
    file and the field that is wrong."""
    if raw.strip() and not raw.strip().startswith(("ws://", "wss://")) and "," not in raw:
        return _read_file(Path(raw.strip()), option)
    urls = comma_list(raw)
    if not urls:
        raise UsageError(f"{option}: no endpoint given")
    return _named(tuple(_endpoint(url, {}, f"{option} {url}") for url in urls), option)


def _read_file(path: Path, option: str) -> tuple[BrowserEndpoint, ...]:
    where = f"{option} {path}"
    if not path.is_file():
        raise UsageError(f"{where}: neither a ws:// or wss:// URL nor a file")
    try:
        entries = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{where}: not a JSON file: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{where}: expected a non-empty JSON list of endpoints")
    return _named(tuple(_endpoint_entry(entry, f"{where}: endpoint {i + 1}") for i, entry in enumerate(entries)),
                  where)


def _endpoint_entry(entry: Any, where: str) -> BrowserEndpoint:
    if isinstance(entry, str):
        return _endpoint(entry, {}, where)
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a URL or an object with \"url\"")
    unknown = sorted(set(entry) - set(ENTRY_FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown field {', '.join(unknown)} (fields: {', '.join(ENTRY_FIELDS)})")
    for key in ("launch", "headers"):
        if not isinstance(entry.get(key, {}), dict):
            raise UsageError(f"{where}: \"{key}\" must be an object")
    if not all(isinstance(v, str) for v in entry.get("headers", {}).values()):
        raise UsageError(f"{where}: every \"headers\" value must be a string")
    if "name" in entry and not (isinstance(entry["name"], str) and entry["name"].strip()):
        raise UsageError(f"{where}: \"name\" must be a non-empty string")
    return _endpoint(entry.get("url"), entry, where)


def _endpoint(url: Any, entry: dict[str, Any], where: str) -> BrowserEndpoint:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss") or not urlsplit(url).hostname:
        raise UsageError(f"{where}: \"url\" must be a ws:// or wss:// URL, not {url!r}")
    parts = urlsplit(url)
    name = entry.get("name") or f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"
    return BrowserEndpoint(url=url, name=name, launch=dict(entry.get("launch", {})),
                           headers=dict(entry.get("headers", {})))


def _named(endpoints: tuple[BrowserEndpoint, ...], option: str) -> tuple[BrowserEndpoint, ...]:
    """The endpoints, refusing two with one name (rows name the endpoint that ran them)."""
    names = [e.name for e in endpoints]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"{option}: two endpoints are called {', '.join(repeated)}; give each a \"name\"")
    return endpoints
