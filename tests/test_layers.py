"""The layers point one way: the pipeline (`sorastats`) never imports the API (`api`), and
no module imports itself back through others. Inside the API each domain
(api/<domain>/) is routes -> service -> store: no route module imports another domain's
routes (cross-domain needs go through services), services and stores never import routes,
and stores never import services. Read from the source, late imports included,
so a function-level import cannot hide a cycle."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGES = ("sorastats", "api")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = ROOT) -> set[str]:
    """Every project module `path` imports, at any depth of its code (TYPE_CHECKING-only
    imports excluded: they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            # the longest known module that `name` is or lies in
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None. Imports of a package's
    `__init__` by its own submodules are how packages work, so edges to a parent package
    are left out."""
    edges = {
        node: {t for t in targets if not node.startswith(t + ".")}
        for node, targets in graph.items()
    }
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_pipeline_never_imports_the_api() -> None:
    offenders = {
        module: sorted(t for t in targets if t == "api" or t.startswith("api."))
        for module, targets in import_graph().items()
        if module.startswith("sorastats")
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"the pipeline imports the API: {offenders}"


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def domain_modules(kind: str) -> list[str]:
    """The API's `api.<domain>.<kind>` modules (kind: routes, service, store)."""
    return sorted(
        m for m in import_graph() if m.startswith("api.") and m.count(".") == 2 and m.endswith(kind)
    )


def test_the_api_has_domains_with_routes_service_and_store() -> None:
    routes = domain_modules(".routes")
    assert {"api.auth.routes", "api.account.routes", "api.vault.routes"} <= set(routes)
    assert {"api.billing.routes", "api.stats.routes", "api.pages.routes"} <= set(routes)
    assert len(domain_modules(".service")) >= 5 and len(domain_modules(".store")) >= 5


def test_no_route_module_imports_another() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in graph[module] if t.endswith(".routes"))
        for module in domain_modules(".routes")
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"route modules import other route modules: {offenders}"


def test_services_and_stores_never_import_routes() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in graph[module] if t.endswith(".routes"))
        for module in domain_modules(".service") + domain_modules(".store")
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"services or stores import route modules: {offenders}"


def test_stores_never_import_services() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(t for t in graph[module] if t.endswith(".service"))
        for module in domain_modules(".store")
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"stores import services: {offenders}"


def test_only_the_app_imports_route_modules() -> None:
    """Route modules are leaves: api/app.py lists their groups; nothing else needs them."""
    offenders = {
        module: sorted(t for t in targets if t.endswith(".routes"))
        for module, targets in import_graph().items()
        if module != "api.app"
    }
    offenders = {m: t for m, t in offenders.items() if t}
    assert not offenders, f"modules importing route modules: {offenders}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
        ({"p.m": {"p"}, "p": {"p.m"}}, None),  # a package importing its own submodule
    ],
)
def test_find_cycle(graph: dict[str, set[str]], expected: list[str] | None) -> None:
    assert find_cycle(graph) == expected


def test_late_and_relative_imports_are_seen(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from . import b\n    from pkg.c import x\n")
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert imported_modules(package / "a.py", known, tmp_path) == {"pkg", "pkg.b", "pkg.c"}
