"""The image installs the server's dependencies and nothing the benchmarks alone use: read from uv.lock
and pyproject.toml (no network), and from the imports of the code the image runs."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[1]
# The code the api, worker and ML sidecar run (ml/experiments holds the policies they serve).
RUNTIME_CODE = [ROOT / "services", ROOT / "ml", ROOT / "packages" / "shared-types" / "oo_contracts"]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, dict]:
    return {package["name"]: package for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}


def _closure(roots: list[str]) -> set[str]:
    """Every package the lock installs for `roots`, the extras they ask for included."""
    packages = _lock()
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ()) for root in roots]
    while todo:
        name, extras = todo.pop()
        name = _normalized(name)
        package = packages[name]
        new = name not in seen
        seen.add(name)
        wanted = list(package.get("dependencies", [])) if new else []
        for extra in extras:
            wanted += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(dependency["name"], tuple(dependency.get("extra", []))) for dependency in wanted]
    return seen


def _group(name: str) -> set[str]:
    """A dependency group of the workspace root, as the lock resolved it (its own closure)."""
    root = _lock()["oo-workspace"]
    return _closure([dependency["name"] for dependency in root["dev-dependencies"][name]])


def _runtime() -> set[str]:
    return _closure(["oo-server"])


def test_the_image_syncs_the_server_alone():
    lines = [" ".join(line.split()) for line in (ROOT / "infra" / "Dockerfile").read_text().splitlines()]
    assert "RUN uv sync --locked --no-default-groups --package oo-server" in lines


def test_the_benchmark_group_is_not_in_the_runtime():
    bench_only = _group("bench") - _runtime()
    assert "vowpalwabbit" in bench_only
    assert _runtime() & {"vowpalwabbit", "matplotlib", "pandas"} == set()


def test_the_tests_tools_are_not_in_the_runtime():
    assert {"pytest", "podman-compose", "schemathesis", "playwright"} <= _group("dev")
    assert _runtime() & {"pytest", "podman-compose", "schemathesis", "playwright", "oo-simulators"} == set()


def test_the_runtime_code_imports_nothing_outside_the_runtime():
    distributions = metadata.packages_distributions()
    outside = _group("bench") | _group("dev") | {"oo-simulators", "oo-sdk"}
    outside -= _runtime()
    imported: dict[str, set[str]] = {}
    for directory in RUNTIME_CODE:
        for path in directory.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    for distribution in distributions.get(top, []):
                        imported.setdefault(_normalized(distribution), set()).add(str(path.relative_to(ROOT)))
    assert {name: sorted(paths) for name, paths in imported.items() if name in outside} == {}
    assert "vowpalwabbit" in {_normalized(d) for d in distributions.get("vowpalwabbit", [])}


def test_the_build_context_leaves_out_what_the_image_does_not_run():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv/", ".tools/", ".git/", "tests/", "bench/", "**/.env", "**/.env.*"} <= ignored
