"""Remote browsers (``--browser-endpoint``): Playwright browser servers and WebDriver servers.

The option takes comma-separated URLs, or a JSON file holding a list of endpoints. A URL is a
Playwright server's (``ws://``, ``wss://``) or a WebDriver server's with ``webdriver+`` before its
scheme (``webdriver+http://grid:4444/wd/hub``: Selenium Grid, safaridriver, Appium, a cloud grid,
WebKitWebDriver). Each file entry is an object with ``url`` and optionally:

- ``name``: how reports and progress lines call it;
- ``engine`` (``chromium``, ``firefox`` or ``webkit``): the only engine whose backend ids it runs (a
  Playwright server runs any engine by default, a WebDriver server the one its ``browserName`` names);
- Playwright servers: ``launch`` (Playwright launch options for the server to apply, such as
  ``executablePath``; a server started without ``--unsafe`` ignores most of them) and ``headers``
  (sent on connect, e.g. a cloud grid's access token);
- WebDriver servers: ``capabilities`` (W3C capabilities each session asks for: ``browserName``,
  ``platformName``, ``browserVersion``, vendor options such as ``webkitgtk:browserOptions`` or a
  cloud grid's ``sauce:options``).

A Playwright server's browser reaches the harness's page on 127.0.0.1 through Playwright's tunnel; a
WebDriver server's browser has no tunnel, so unless the server runs on this machine the run needs
``--serve-on`` an address that browser reaches (``page_reachable``).

``${NAME}`` in a URL, a header or a capability's string is the environment variable ``NAME``, so
credentials stay out of the file. Reports never show a URL's query string or user info, where
grids put credentials.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.browser.engines import ENGINES
from harness.errors import UsageError
from harness.options import comma_list

PLAYWRIGHT, WEBDRIVER = "playwright", "webdriver"
SCHEMES = {"ws": PLAYWRIGHT, "wss": PLAYWRIGHT, "webdriver+http": WEBDRIVER, "webdriver+https": WEBDRIVER}
FIELDS = {PLAYWRIGHT: ("url", "name", "engine", "launch", "headers"),
          WEBDRIVER: ("url", "name", "engine", "capabilities")}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# A WebDriver ``browserName`` -> the engine whose backend ids it runs.
BROWSER_NAME_ENGINES = {"chrome": "chromium", "chromium": "chromium", "msedge": "chromium", "microsoftedge": "chromium",
                        "firefox": "firefox", "safari": "webkit", "minibrowser": "webkit", "webkit": "webkit"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class BrowserEndpoint:
    """One remote browser server: where it is, what to call it, and what to ask it for."""

    url: str
    name: str
    launch: dict[str, Any] = field(default_factory=dict)  # Playwright servers
    headers: dict[str, str] = field(default_factory=dict)  # Playwright servers
    capabilities: dict[str, Any] = field(default_factory=dict)  # WebDriver servers
    engine: str | None = None  # the engine whose backends it runs; None: any (a Playwright server's default)

    @property
    def protocol(self) -> str:
        """``"playwright"`` or ``"webdriver"``: how the harness drives the endpoint's browser."""
        return SCHEMES[urlsplit(self.url).scheme]

    @property
    def server_url(self) -> str:
        """The URL a client connects to: a WebDriver URL without its ``webdriver+``."""
        return self.url.removeprefix("webdriver+")

    @property
    def public_url(self) -> str:
        """The URL without its query string and user info (which may hold credentials)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def serves(self, engine: str) -> bool:
        """Whether this endpoint runs backend ids of ``engine``."""
        return self.engine is None or self.engine == engine


def parse_endpoints(raw: str, option: str = "--browser-endpoint") -> tuple[BrowserEndpoint, ...]:
    """The endpoints ``raw`` names (URLs or a JSON file, see the module); a ``UsageError`` names ``option``, the
    file and the field that is wrong."""
    if raw.strip() and not _is_url(raw.strip()) and "," not in raw:
        return _read_file(Path(raw.strip()), option)
    urls = comma_list(raw)
    if not urls:
        raise UsageError(f"{option}: no endpoint given")
    return _named(tuple(_endpoint({"url": url}, f"{option} {urlsplit(url).hostname or url}") for url in urls), option)


def _is_url(text: str) -> bool:
    return any(text.startswith(f"{scheme}://") for scheme in SCHEMES)


def _read_file(path: Path, option: str) -> tuple[BrowserEndpoint, ...]:
    where = f"{option} {path}"
    if not path.is_file():
        raise UsageError(f"{where}: neither a URL ({', '.join(f'{s}://' for s in SCHEMES)}) nor a file")
    try:
        entries = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{where}: not a JSON file: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{where}: expected a non-empty JSON list of endpoints")
    return _named(tuple(_endpoint(entry if isinstance(entry, dict) else {"url": entry}, f"{where}: endpoint {i + 1}")
                        for i, entry in enumerate(entries)), where)


def _endpoint(entry: dict[str, Any], where: str) -> BrowserEndpoint:
    url = _expanded(entry.get("url"), where, "url")
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme not in SCHEMES or not urlsplit(url).hostname:
        raise UsageError(f"{where}: \"url\" must be a ws://, wss://, webdriver+http:// or webdriver+https:// URL, not "
                         f"{url!r}")
    protocol = SCHEMES[scheme]
    unknown = sorted(set(entry) - set(FIELDS[protocol]))
    if unknown:
        raise UsageError(f"{where}: unknown field {', '.join(unknown)} for a {protocol} endpoint (fields: "
                         f"{', '.join(FIELDS[protocol])})")
    for key in ("launch", "headers", "capabilities"):
        if not isinstance(entry.get(key, {}), dict):
            raise UsageError(f"{where}: \"{key}\" must be an object")
    if not all(isinstance(v, str) for v in entry.get("headers", {}).values()):
        raise UsageError(f"{where}: every \"headers\" value must be a string")
    if "name" in entry and not (isinstance(entry["name"], str) and entry["name"].strip()):
        raise UsageError(f"{where}: \"name\" must be a non-empty string")
    parts = urlsplit(url)
    name = entry.get("name") or f"{parts.hostname}:{parts.port or (443 if scheme.endswith('s') else 80)}"
    capabilities = _expanded(dict(entry.get("capabilities", {})), where, "capabilities")
    return BrowserEndpoint(url=url, name=name, launch=dict(entry.get("launch", {})),
                           headers=_expanded(dict(entry.get("headers", {})), where, "headers"),
                           capabilities=capabilities, engine=_engine(entry, capabilities, protocol, where))


def _engine(entry: dict[str, Any], capabilities: dict[str, Any], protocol: str, where: str) -> str | None:
    """An endpoint's engine: its ``engine`` field, else (WebDriver) the one its ``browserName`` names, Chromium if
    none; else None (a Playwright server runs any engine)."""
    if "engine" in entry:
        if entry["engine"] not in ENGINES:
            raise UsageError(f"{where}: \"engine\" must be one of {', '.join(ENGINES)}, not {entry['engine']!r}")
        return str(entry["engine"])
    if protocol == PLAYWRIGHT:
        return None
    browser = str(capabilities.get("browserName", "chrome"))
    if browser.lower() not in BROWSER_NAME_ENGINES:
        raise UsageError(f"{where}: which engine is browserName {browser!r}? give the endpoint an \"engine\" "
                         f"({', '.join(ENGINES)})")
    return BROWSER_NAME_ENGINES[browser.lower()]


def page_reachable(endpoints: tuple[BrowserEndpoint, ...], serve_on: bool, option: str = "--serve-on") -> None:
    """A ``UsageError`` if a WebDriver endpoint off this machine would be sent to a page on 127.0.0.1, which its
    browser cannot reach (``serve_on``: the page is served on an address given by ``option``)."""
    remote = [e.name for e in endpoints if e.protocol == WEBDRIVER and urlsplit(e.url).hostname not in LOOPBACK_HOSTS]
    if remote and not serve_on:
        raise UsageError(f"WebDriver endpoint {', '.join(remote)}: its browser cannot reach the page on this machine's "
                         f"127.0.0.1 (WebDriver has no tunnel); give {option} an address of this machine it reaches "
                         "(docs/remote.md)")


def _expanded(value: Any, where: str, key: str) -> Any:
    """``value`` with each ``${NAME}`` in its strings replaced by that environment variable (which must be set)."""
    if isinstance(value, dict):
        return {k: _expanded(v, where, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v, where, key) for v in value]
    if not isinstance(value, str):
        return value
    missing = [name for name in _VARIABLE.findall(value) if name not in os.environ]
    if missing:
        raise UsageError(f"{where}: \"{key}\" uses ${{{missing[0]}}}, which is not set in the environment")
    return _VARIABLE.sub(lambda match: os.environ[match.group(1)], value)


def _named(endpoints: tuple[BrowserEndpoint, ...], option: str) -> tuple[BrowserEndpoint, ...]:
    """The endpoints, refusing two with one name (rows name the endpoint that ran them)."""
    names = [e.name for e in endpoints]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"{option}: two endpoints are called {', '.join(repeated)}; give each a \"name\"")
    return endpoints
