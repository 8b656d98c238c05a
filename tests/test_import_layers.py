"""The package layers hold: no import runs up a layer, and no module-level import cycle exists.

The layers, lowest first, are ``rewards`` <- ``envs`` <- ``agents`` <- ``orchestration``: a package may import
packages below it (to its left), never above. Keeping the arrows one way is what lets the reward math run without
environments, the environment run without the agent implementations, and agents run without Ray orchestration.

The check reads the source with :mod:`ast` rather than importing it, so it sees every ``import`` statement, those
inside functions and ``if TYPE_CHECKING:`` blocks included (a deferred import running up a layer is still a
dependency running up a layer). Cycles are looked for among module-level imports only, the ones that run when a
module is first imported. Imports made by name at run time (``importlib.import_module``) are not seen.

Run it as a script (``python tests/test_import_layers.py``) to print every finding.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("rewards", "envs", "agents", "orchestration")
RANK = {name: i for i, name in enumerate(LAYERS)}


@dataclass(frozen=True)
class Import:
    """One project-internal import: which module imports which, where, and whether it runs at import time."""

    source: str
    target: str
    path: Path
    line: int
    text: str
    module_level: bool

    root: Path = ROOT

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(self.root)}:{self.line}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four layer packages under ``root``, by dotted name."""
    return {module_name(p, root): p for layer in LAYERS for p in sorted((root / layer).rglob("*.py"))}


def _runs_at_import(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """False inside a function body or an ``if TYPE_CHECKING:`` block; class bodies run at import time."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(parent, ast.If) and node in parent.body and "TYPE_CHECKING" in ast.unparse(parent.test):
            return False
        node = parent
    return True


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names, relative levels resolved against the importing module."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that ``name`` is or lies inside (``envs.task.EditTask`` -> ``envs.task``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def scan(root: Path = ROOT) -> list[Import]:
    """Every import between project modules under ``root``, module-level and deferred alike."""
    modules = project_modules(root)
    found: list[Import] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path.name == "__init__.py", node)
                # `from pkg import sub` imports the submodule pkg.sub when there is one, else a name from pkg.
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            text = ast.unparse(node)
            level = _runs_at_import(node, parents)
            for target in dict.fromkeys(filter(None, (_owning_module(n, modules) for n in names))):
                if target != module:
                    found.append(Import(module, target, path, node.lineno, text, level, root))
    return found


def upward_imports(imports: list[Import]) -> list[Import]:
    """Imports from a lower layer into a higher one."""
    return [i for i in imports if RANK[i.target.split(".")[0]] > RANK[i.source.split(".")[0]]]


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of modules (size > 1) in the graph of module-level imports (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if i.module_level:
            graph.setdefault(i.source, set()).add(i.target)
            graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _describe_cycle(group: list[str], imports: list[Import]) -> str:
    members = set(group)
    edges = [i for i in imports if i.module_level and i.source in members and i.target in members]
    lines = [f"  {i.where}: {i.source} -> {i.target} ({i.text})" for i in sorted(edges, key=lambda i: (i.source, i.line))]
    return "cycle among " + ", ".join(group) + ":\n" + "\n".join(lines)


ORDER = " <- ".join(LAYERS)


def test_scan_resolves_relative_deferred_and_cyclic_imports(tmp_path):
    files = {
        "rewards/__init__.py": "",
        "rewards/score.py": "def f():\n    from envs.world import Scene\n",
        "envs/__init__.py": "",
        "envs/world.py": "from . import state\nfrom rewards.score import f\n",
        "envs/state.py": "from .world import Scene\n",
        "envs/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agents.base import Agent\n",
        "agents/__init__.py": "",
        "agents/base.py": "from orchestration import run\n",
        "orchestration/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    imports = scan(tmp_path)
    up = {(i.source, i.target, i.line, i.module_level) for i in upward_imports(imports)}
    assert up == {("rewards.score", "envs.world", 2, False), ("envs.typed", "agents.base", 3, False),
                  ("agents.base", "orchestration", 1, True)}
    assert import_cycles(imports) == [["envs.state", "envs.world"]]
    assert ("envs.world", "rewards.score") in {(i.source, i.target) for i in imports}


def test_scan_sees_the_known_downward_imports():
    imports = scan()
    assert any(i.source == "envs.editing_env" and i.target.startswith("rewards") for i in imports)
    assert any(i.source.startswith("orchestration") and i.target.startswith("agents") for i in imports)
    assert any(not i.module_level for i in imports), "the scan should see imports inside functions too"


def test_no_import_runs_up_a_layer():
    bad = upward_imports(scan())
    assert not bad, (
        f"imports run up a layer (layers, lowest first: {ORDER}; a package may import only packages to its left):\n"
        + "\n".join(f"  {i.where}: {i.source} imports {i.target} ({i.text})" for i in bad)
    )


def test_no_module_level_import_cycle():
    imports = scan()
    cycles = import_cycles(imports)
    assert not cycles, (
        f"module-level import cycles (layers, lowest first: {ORDER}):\n"
        + "\n".join(_describe_cycle(group, imports) for group in cycles)
    )


if __name__ == "__main__":
    found = scan()
    print(f"{len(found)} project-internal imports in {len(project_modules())} modules; layers {ORDER}")
    for i in upward_imports(found):
        print(f"UP   {i.where}: {i.source} -> {i.target} ({i.text}){'' if i.module_level else ' [deferred]'}")
    for group in import_cycles(found):
        print("CYCLE " + _describe_cycle(group, found))
