"""localcloud's package layout: one package per service, no import cycle inside localcloud,
and the core imports no service package (services plug in through `_EXTENSIONS`).

Every import statement counts, also the ones inside functions (a lazy import is still a
dependency: it only hides a cycle until the function runs).
"""
import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "localcloud"
SERVICES = ("awslambda", "s3", "ssm", "ec2", "apigateway", "logs", "events", "iam", "sqs")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the localcloud modules it imports (`from pkg import sub` counts as sub)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_pkg, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for t in targets:
                while t and t not in modules:  # import a.b.c of a non-module name: a.b
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_localcloud():
    graph = import_graph(_modules())
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in localcloud: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_graph_sees_lazy_imports():
    graph = import_graph(_modules())
    # cloud.py imports the HTTP side inside a method: still an edge.
    assert "localcloud.core.server" in graph["localcloud.core.cloud"]
    assert "localcloud.core.cloud" in graph["localcloud.awslambda.runtime"]


def test_core_imports_no_service_package():
    graph = import_graph(_modules())
    bad = [f"{m} imports {t}" for m, ts in graph.items()
           if m.startswith("localcloud.core") for t in ts
           if t.split(".")[1] in SERVICES]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("service", ["awslambda", "s3", "ssm", "apigateway", "logs", "events"])
def test_one_package_per_service(service):
    assert (ROOT / service / "__init__.py").is_file()


def test_every_extension_is_a_service_module_with_install():
    from localcloud.core.cloud import _EXTENSIONS

    assert _EXTENSIONS[0] == "localcloud.awslambda.runtime"  # the others invoke through it
    for name in _EXTENSIONS:
        assert name.split(".")[1] in SERVICES, name
        assert callable(importlib.import_module(name).install), name


def test_python_dash_m_localcloud_is_the_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "localcloud", "--help"], capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "usage: localcloud" in out.stdout and "reset" in out.stdout
