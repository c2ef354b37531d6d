"""The library's layers: no import circle, and no arrow running back up (lazy imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Layers from the bottom up; a module may import its own layer and those below it only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cropviz", "cropviz.errors", "cropviz.types", "cropviz.devices"),
    ("cropviz.data",),
    ("cropviz.models", "cropviz.early.elects", "cropviz.early", "cropviz.metrics", "cropviz.explore"),
    ("cropviz.explain", "cropviz.early.analysis", "cropviz.training", "cropviz.calibration", "cropviz.store"),
    ("cropviz.scale", "cropviz.ablation", "cropviz.diagnose"),
    ("cropviz.workspace",),
    ("cropviz.viz",),
    ("cropviz.cli",),
)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "cropviz").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _layer(module: str) -> int:
    """The layer of the longest matching prefix."""
    best, rank = -1, -1
    for k, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    assert rank >= 0, f"{module} is in no layer of LAYERS"
    return rank


def _imports(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Modules of cropviz that ``module`` imports at run time (type-checking-only imports left out)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cropviz"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cropviz")}
    found.discard(module)
    return {m for m in found if m in modules}


GRAPH = {name: _imports(path, name, _modules()) for name, path in _modules().items()}


def test_there_is_no_import_circle():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(trail[trail.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_arrow_runs_back_up(module):
    upward = sorted(m for m in GRAPH[module] if _layer(m) > _layer(module)
                    and not module.startswith(m + ".") and m != "cropviz")
    assert not upward, f"{module} (layer {_layer(module)}) imports a higher layer: " + ", ".join(
        f"{m} (layer {_layer(m)})" for m in upward)


def test_the_data_layer_never_imports_models_and_the_library_never_imports_streamlit():
    for module, path in _modules().items():
        text = path.read_text()
        assert "import streamlit" not in text and "from streamlit" not in text, module
        if module.startswith("cropviz.data"):
            assert not any(m.startswith(("cropviz.models", "cropviz.explain")) for m in GRAPH[module]), module


#: What a page may import from the project: the app's support modules, the workspace and the plots.
PAGE_IMPORTS = ("app_support", "cropviz.workspace", "cropviz.viz")


@pytest.mark.parametrize("page", sorted((SRC.parent / "pages").glob("*.py")) + [SRC.parent / "app.py"],
                         ids=lambda path: path.name)
def test_pages_import_only_app_support_the_workspace_and_the_plots(page):
    tree = ast.parse(page.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {m for m in imported if m.split(".")[0] in ("cropviz", "app_support")}
    stray = sorted(m for m in ours if not any(m == p or m.startswith(p + ".") for p in PAGE_IMPORTS))
    assert not stray, f"{page.name} imports {', '.join(stray)}: go through app_support, the workspace or cropviz.viz"


@pytest.mark.parametrize("module", sorted(m for m, p in _modules().items() if p.name != "__init__.py"))
def test_every_library_module_has_a_test_file_of_its_name(module):
    parts = module.split(".")[1:]
    expected = SRC.parent / "tests" / Path(*parts[:-1]) / f"test_{parts[-1].lstrip('_')}.py"
    assert expected.is_file(), f"{module} has no {expected.relative_to(SRC.parent)}"
