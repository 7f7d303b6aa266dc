"""The page's operations are named once per language: ``web/page.js``'s ``operations`` and ``PageOperation``, kept equal
here; Python calls the page with ``PageOperation`` members only."""

import re
from pathlib import Path

from harness.browser.page import PageOperation

ROOT = Path(__file__).resolve().parent.parent


def page_js_operations(source: str) -> list[str]:
    """The keys of the ``operations`` object in ``page.js``'s source."""
    body = source.split("const operations = {", 1)[1].split("\n  };", 1)[0]
    return re.findall(r"^    (\w+):", body, re.MULTILINE)


def differences(source: str) -> tuple[set[str], set[str]]:
    """(operations only the page has, operations only Python has)."""
    page, python = set(page_js_operations(source)), {operation.value for operation in PageOperation}
    return page - python, python - page


def bare_calls(root: Path) -> list[str]:
    """``.call("name"`` with a string instead of a ``PageOperation``, as ``path:line``."""
    return [f"{path.relative_to(root)}:{number}" for path in sorted(root.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"\.call\(['\"]", line)]


def test_the_page_and_python_name_the_same_operations():
    source = (ROOT / "web" / "page.js").read_text()
    assert len(page_js_operations(source)) == len(PageOperation) > 20
    assert differences(source) == (set(), set())


def test_an_operation_on_one_side_only_is_found():
    source = (ROOT / "web" / "page.js").read_text()
    planted = source.replace("const operations = {", "const operations = {\n    resetEverything: () => null,", 1)
    assert differences(planted) == ({"resetEverything"}, set())
    removed = re.sub(r"\n    tamperStored: [^\n]+", "", source)
    assert differences(removed) == (set(), {"tamperStored"})


def test_python_calls_the_page_only_through_page_operations(tmp_path):
    assert bare_calls(ROOT / "harness") == []
    assert [call for call in bare_calls(ROOT / "tests") if not call.startswith(Path(__file__).name)] == []
    (tmp_path / "check.py").write_text('page.call(PageOperation.LOAD, url)\npage.call("load", url)\n')
    assert bare_calls(tmp_path) == ["check.py:2"]
