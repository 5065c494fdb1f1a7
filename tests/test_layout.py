"""The layout a newcomer reads (issue 30): no import cycles, no private names across modules, agent/ in folders.

The import graph is built from the source with `ast`, so it sees every import, including those inside
functions: an import moved into a function hides a cycle from Python's loader, not from a reader.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from hrm_paths import REPO

# The installed package name of each folder (pyproject.toml, [tool.setuptools] package-dir).
PACKAGES = {"hrm_cli": "hrm_cli", "hrm_engine": "engine", "hrm_agent": "agent", "hrm_datasets": "datasets"}
AGENT_SUBPACKAGES = ("backends", "sandbox", "bench", "tune", "optimize", "voting")
AGENT_TOP_LEVEL_MAX = 15  # the run's core; a concept that spans several files gets a folder


@dataclass(frozen=True)
class Import:
    importer: str   # dotted module name
    target: str     # the module imported (a from-import of a submodule names the submodule)
    names: tuple[str, ...]  # the names a from-import takes from `target` ('' for `import x`)
    line: int


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _sources() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        root = REPO / folder
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                out[_module_name(package, root, path)] = path
    return out


SOURCES = _sources()


def _imports(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(module, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            plain = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in SOURCES:
                    out.append(Import(module, sub, (), node.lineno))
                else:
                    plain.append(alias.name)
            if plain:
                out.append(Import(module, base, tuple(plain), node.lineno))
    return out


IMPORTS = {module: _imports(module, path) for module, path in SOURCES.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _internal(name: str) -> str | None:
    """The module of ours that `name` is, or that holds it (an attribute import), else None."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted: the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def _package_edges() -> tuple[dict[str, set[str]], dict]:
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for module, imports in IMPORTS.items():
        for imp in imports:
            a, b = _top(module), _top(imp.target)
            if b in PACKAGES and a != b:
                edges.setdefault(a, set()).add(b)
                where.setdefault((a, b), f"{SOURCES[module].relative_to(REPO)}:{imp.line}")
    return edges, where


def _module_edges(package: str) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, imports in IMPORTS.items():
        if not module.startswith(package + ".") and module != package:
            continue
        for imp in imports:
            target = _internal(imp.target)
            if target and target != module and target.startswith(package):
                edges.setdefault(module, set()).add(target)
    return edges


def test_the_graph_sees_every_package():
    assert {_top(m) for m in SOURCES} == set(PACKAGES)
    assert any(imp.target.startswith("hrm_agent.") for imp in IMPORTS["hrm_cli.main"])


def test_no_cycle_between_top_level_packages():
    """hrm_cli on top, then hrm_agent, then hrm_engine, then hrm_datasets; nothing imports upwards."""
    edges, where = _package_edges()
    assert _cycles(edges) == [], {e: w for e, w in where.items()}
    for low in ("hrm_agent", "hrm_engine", "hrm_datasets"):
        assert (low, "hrm_cli") not in where, where.get((low, "hrm_cli"))
    for low in ("hrm_engine", "hrm_datasets"):
        assert (low, "hrm_agent") not in where, where.get((low, "hrm_agent"))
    # the shared I/O (hrm_datasets.files, hrm_datasets.errors) lives in the lowest layer
    assert ("hrm_datasets", "hrm_engine") not in where, where.get(("hrm_datasets", "hrm_engine"))


@pytest.mark.parametrize("package", ["hrm_agent", "hrm_cli", "hrm_engine", "hrm_datasets"])
def test_no_import_cycle_between_modules(package):
    """Imports inside functions count: deferring one does not make the dependency go away."""
    assert _cycles(_module_edges(package)) == []


def _private_uses(module: str) -> list[str]:
    """`from ours import _name` and `ours_module._name` in `module`, where `ours` is another module of ours."""
    where = SOURCES[module].relative_to(REPO)
    bad = []
    bound: dict[str, str] = {}  # local name -> one of our modules
    tree = ast.parse(SOURCES[module].read_text(encoding="utf-8"))
    for imp in IMPORTS[module]:
        target = _internal(imp.target)
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private and target is not None and target != module:
            bad.append(f"{where}:{imp.line}: from {imp.target} import {', '.join(private)}")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                full = alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
                if full in SOURCES and (alias.asname or isinstance(node, ast.ImportFrom)):
                    bound[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        owner = _dotted(node.value)  # `alias._x`, or `hrm_engine.config._x` after `import hrm_engine.config`
        owner = bound.get(owner, owner) if owner else None
        if owner in SOURCES and owner != module:
            bad.append(f"{where}:{node.lineno}: {_dotted(node.value)}.{node.attr}")
    return bad


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` as a string, None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_private_name_used_across_modules(package):
    """Another module uses a module's public functions, never its `_private` ones."""
    assert [bad for module in SOURCES if _top(module) == package for bad in _private_uses(module)] == []


def test_agent_shows_its_concepts_as_folders():
    agent = REPO / "agent"
    top = sorted(p.name for p in agent.glob("*.py"))
    assert len(top) <= AGENT_TOP_LEVEL_MAX, top
    for name in AGENT_SUBPACKAGES:
        assert (agent / name / "__init__.py").is_file(), name
        assert f"hrm_agent.{name}" in SOURCES


def test_every_package_folder_is_installed():
    """pyproject.toml lists its packages by hand, so a new subpackage left off the list works in the editable
    checkout and is missing from a wheel or a plain `pip install .`."""
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    for package, folder in PACKAGES.items():
        assert setuptools["package-dir"][package] == folder
        # a folder of modules is a package, with or without __init__.py (engine/models has none)
        found = {".".join([package, *path.parent.relative_to(REPO / folder).parts])
                 for path in (REPO / folder).rglob("*.py") if "__pycache__" not in path.parts}
        assert found - listed == set(), f"add to [tool.setuptools] packages in pyproject.toml: {found - listed}"


FUNCTION_LINES_MAX = 80  # longer than a screen: a concept that wants its own name (issue 30)
# "path:function" -> why it is data, not steps a reader follows; every entry must still be over the limit.
LONG_FUNCTIONS_THAT_ARE_DATA: dict[str, str] = {}


def _long_functions(folder: str) -> dict[str, int]:
    out = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES_MAX:
                    out[f"{path.relative_to(REPO)}:{node.name}"] = lines
    return out


@pytest.mark.parametrize("folder", ["engine", "agent"])
def test_no_function_longer_than_a_screen(folder):
    """Counted from `def` to the last line (decorators aside), nested functions too; data is listed above."""
    long = _long_functions(folder)
    exempt = {k for k in LONG_FUNCTIONS_THAT_ARE_DATA if k.startswith(folder + "/")}
    assert {k: n for k, n in long.items() if k not in exempt} == {}
    assert exempt <= set(long), f"no longer over {FUNCTION_LINES_MAX} lines, drop the exemption: {exempt - set(long)}"


def _defined_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level (inside top-level if/try too)."""
    names: set[str] = set()
    todo = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.If, ast.Try)):
            todo += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            todo += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def _unresolved(tree: ast.AST, where: str, packages: set[str]) -> list[str]:
    """hrm_* imports in `tree` naming a module or name our sources lack; an import in an `except ImportError:`
    handler is a fallback for an older checkout and is not checked. Python in string constants (the scripts a
    benchmark runs in a subprocess) is checked too."""
    fallbacks = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for h in t.handlers
                 if "ImportError" in ast.unparse(h.type or ast.Name("")) for s in h.body for n in ast.walk(s)}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "hrm_" in node.value:
            try:
                bad += _unresolved(ast.parse(node.value), f"{where}:{node.lineno} (script)", packages)
            except SyntaxError:
                pass
        if id(node) in fallbacks or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            wanted = [(a.name, None) for a in node.names]
        else:
            wanted = [(node.module or "", a.name) for a in node.names]
        for module, name in wanted:
            if _top(module) not in PACKAGES:
                continue
            if module not in SOURCES and module not in packages:
                bad.append(f"{where}:{node.lineno}: no module {module}")
                break
            if name and f"{module}.{name}" not in SOURCES and f"{module}.{name}" not in packages and (
                    module not in SOURCES or name not in _defined_names(SOURCES[module])):
                bad.append(f"{where}:{node.lineno}: {module} has no {name}")
    return bad


def test_benchmark_scripts_import_what_exists():
    """benchmarks/ is outside the packages, so a move inside them breaks its imports silently (most are inside
    functions or in the scripts a benchmark runs in a subprocess, which `--help` never reaches)."""
    packages = {".".join([package, *path.parent.relative_to(REPO / folder).parts])
                for package, folder in PACKAGES.items() for path in (REPO / folder).rglob("*.py")}
    bad = [b for path in sorted((REPO / "benchmarks").glob("*.py"))
           for b in _unresolved(ast.parse(path.read_text(encoding="utf-8")), str(path.relative_to(REPO)), packages)]
    assert bad == []
