"""Build hook: a wheel carries the page and the default tfjs bundles (``harness/web/``), staged from
``web/`` by ``harness.browser.web_assets.stage_web``. Everything else is declared in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithWeb(build_py):
    """``build_py``, then the page's files into the built package (not for editable installs, which
    serve the checkout's ``web/`` itself)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        sys.path.insert(0, str(ROOT))
        from harness.browser.web_assets import stage_web

        stage_web(ROOT / "web", Path(self.build_lib) / "harness" / "web")


setup(cmdclass={"build_py": BuildPyWithWeb})
