"""tfjs-parity: proves that a Keras model converted to TensorFlow.js gives the same answers in a real
browser, on every tfjs backend, as it gives in Python.

The package's folders are its architecture, along the data flow:

- ``results``, ``errors``, ``options``: the row every layer speaks, one error hierarchy, and the option
  values the front ends share. They import nothing else of the harness.
- ``reference/``: the Keras side. Model sources (the zoo, a user's files), conversion, the cache,
  and reading reference directories.
- ``browser/``: the server, save slots and uploads, the page driver, backends, Chromium, tfjs
  versions, tensors between Python and the page.
- ``verdict/``: comparison, tolerances, known upstream issues.
- ``checks/``: one module per check stage; each check gets a page and a reference and returns a row.
- ``explain/``: why a failed check failed (a kernel or accumulated error, the layer and the op), a
  workaround over backends and flags, and a repro to file upstream; run after the checks.
- ``report/``: the report document and its renderings (JSON, Markdown, HTML, terminal, JUnit),
  baselines, merging of pytest-xdist parts.
- ``run/``: a session (one server, one browser) and whole runs: the zoo, a user's model, the benchmark.
- ``cli``, ``plugin``, ``__main__``: the front ends.

The dependency rule (``tests/test_layers.py`` enforces it, and that there are no import circles):
a layer imports only the layers listed for it in ``ALLOWED_IMPORTS``; in words, ``reference`` and
``browser`` never import each other, ``verdict`` reads only the backends' facts from ``browser``,
``report`` never imports ``checks``, ``browser``, ``reference`` or ``run``, and nothing below the
front ends imports them.
"""

from __future__ import annotations

# Which harness layers each layer may import (besides itself). A layer is a top-level module or
# subpackage of ``harness``; the bottom layers import nothing of the harness but one another.
BOTTOM = ("results", "errors", "options")
ALLOWED_IMPORTS: dict[str, tuple[str, ...]] = {
    **{name: BOTTOM for name in BOTTOM},
    "reference": BOTTOM,
    "browser": BOTTOM,
    "verdict": (*BOTTOM, "browser"),
    "report": (*BOTTOM, "verdict"),
    "checks": (*BOTTOM, "reference", "browser", "verdict"),
    "explain": (*BOTTOM, "reference", "browser", "verdict", "checks"),
    "run": (*BOTTOM, "reference", "browser", "verdict", "checks", "report", "explain"),
    "cli": (*BOTTOM, "reference", "browser", "verdict", "checks", "report", "explain", "run"),
    "plugin": (*BOTTOM, "reference", "browser", "verdict", "checks", "report", "explain", "run"),
    "__main__": ("cli",),
}
