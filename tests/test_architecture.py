"""The layers of services/, checked by walking every module's imports (its source, not a
running interpreter, so a function-level import counts too):

- a service's routes are imported by its own main.py only, and no module imports a main;
- services never import each other (they learn of each other from Kafka);
- services/infra imports nothing from a service, nor from the domain packages
  (common, access): it is infrastructure only; services/common imports no service;
- nothing below the routes imports HTTP code (FastAPI, Starlette, the access guard, the
  app factory, problems, middleware, the route parameters);
- there is no import cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
DOMAINS = ("case", "referral", "disclosure", "notification")
# Modules that are HTTP code: the web framework, and ours that speak HTTP.
HTTP_MODULES = (
    "fastapi",
    "starlette",
    "services.access.guard",
    "services.infra.app",
    "services.infra.auth",
    "services.infra.endpoints",
    "services.infra.log_routes",
    "services.infra.middleware",
    "services.infra.problems",
    "services.infra.strict_json",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SERVICES.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports (``from a import b`` counts a.b when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{name}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES)
    return found


IMPORTS = {name: imports_of(name) for name in MODULES}


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def edges() -> Iterator[tuple[str, str]]:
    for name, imported in IMPORTS.items():
        for target in imported:
            if target.startswith("services"):
                yield name, target


def test_every_service_has_the_same_skeleton() -> None:
    for service in DOMAINS:
        for part in ("domain", "application", "readmodel", "schemas", "routes", "main"):
            assert f"services.{service}.{part}" in MODULES, f"services/{service}/{part}.py is missing"


def test_routes_are_imported_only_by_their_own_main_and_main_by_nobody() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, target in edges()
        if (target.endswith(".routes") and name != target.removesuffix(".routes") + ".main") or target.endswith(".main")
    ]
    assert not wrong, wrong


def test_services_never_import_each_other() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, target in edges()
        if service_of(target) and service_of(name) and service_of(target) != service_of(name)
    ]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("services.infra", ("services.infra",)),
        ("services.common", ("services.common", "services.infra")),
        # access reads the X-Reason narrative and holds it to common's rule on personal
        # identifiers in free text (one detector, checked where the header is read)
        ("services.access", ("services.access", "services.common", "services.infra")),
    ],
)
def test_shared_packages_import_no_service(package: str, allowed: tuple[str, ...]) -> None:
    wrong = [
        f"{name} imports {target}" for name, target in edges() if within(name, package) and not within(target, *allowed)
    ]
    assert not wrong, wrong


def test_nothing_below_the_routes_imports_http_code() -> None:
    speaks_http = {*HTTP_MODULES, *(f"services.{s}.{m}" for s in DOMAINS for m in ("routes", "main"))}
    wrong = [
        f"{name} imports {target}"
        for name, imported in IMPORTS.items()
        if not within(name, *speaks_http)
        for target in imported
        if within(target, *HTTP_MODULES)
    ]
    assert not wrong, wrong


def test_no_import_cycle() -> None:
    graph = {name: {t for t in IMPORTS[name] if t in MODULES and t != name} for name in MODULES}
    # A package's __init__ is imported with each of its modules; only real edges count.
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_walk_sees_what_it_checks() -> None:
    # A guard against a walk that finds nothing: the rules above would then pass vacuously.
    assert "services.infra.problems" in IMPORTS["services.infra.app"]
    assert "services.case.routes" in IMPORTS["services.case.main"]
    assert "fastapi" in IMPORTS["services.case.routes"]
