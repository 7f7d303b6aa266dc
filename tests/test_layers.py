"""The package layout is the architecture: every import follows the dependency rule of
``harness/__init__.py`` (``ALLOWED_IMPORTS``) and no modules import each other in a circle.

Imports are read from the source with ``ast``, those inside functions included, so a lazy
import cannot hide a forbidden edge. Each checker is shown to catch a planted violation."""

import ast
import shutil
from pathlib import Path

from harness import ALLOWED_IMPORTS

PACKAGE = Path(__file__).resolve().parent.parent / "harness"


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_edges(root: Path) -> dict[str, set[str]]:
    """Each module's imports of other modules of the package (resolved to the deepest existing module)."""
    modules = module_names(root)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from harness import zoo`` imports the module harness.zoo; ``from harness.zoo import ZOO``
                # imports from harness.zoo.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def layer_of(module: str) -> str:
    """``harness.reference.zoo`` -> ``reference``; ``harness.cli`` -> ``cli``; the package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import that the dependency rule forbids, as ``a -> b (layer x may not import layer y)``."""
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            here, there = layer_of(source), layer_of(target)
            if here and there and here != there and there not in ALLOWED_IMPORTS[here]:
                found.append(f"{source} -> {target} (layer '{here}' may not import layer '{there}')")
    return found


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def planted(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with ``line`` appended to ``module`` (a path inside the package)."""
    root = tmp_path / "harness"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    with open(root / module, "a") as handle:
        handle.write(f"\n{line}\n")
    return root


def test_every_layer_of_the_package_has_a_rule():
    layers = {layer_of(name) for name in module_names(PACKAGE)} - {""}
    assert layers == set(ALLOWED_IMPORTS)


def test_every_import_follows_the_dependency_rule():
    assert layer_violations(import_edges(PACKAGE)) == []


def test_no_import_circles():
    assert circles(import_edges(PACKAGE)) == []


def test_a_planted_forbidden_import_is_caught(tmp_path):
    root = planted(tmp_path, "reference/zoo.py", "def _f():\n    from harness.browser.page import BackendPage")
    assert layer_violations(import_edges(root)) == [
        "harness.reference.zoo -> harness.browser.page (layer 'reference' may not import layer 'browser')"]
    root = planted(tmp_path / "2", "report/html.py", "from ..checks import CHECKS")
    assert layer_violations(import_edges(root)) == [
        "harness.report.html -> harness.checks (layer 'report' may not import layer 'checks')"]


def test_a_planted_circle_through_a_package_import_is_caught(tmp_path):
    root = planted(tmp_path, "reference/keras_env.py", "from harness.reference import cache, zoo")
    [circle] = circles(import_edges(root))  # keras_env -> cache -> keras_env
    assert {"harness.reference.cache", "harness.reference.keras_env"} <= set(circle)


def test_a_planted_circle_is_caught(tmp_path):
    root = planted(tmp_path, "reference/directory.py", "import harness.reference.cache")
    [circle] = circles(import_edges(root))  # cache -> directory (and through zoo_build) -> cache
    assert {"harness.reference.cache", "harness.reference.directory"} <= set(circle)
