"""Check munit's import layers: no import cycle inside `munit/`, no import from a lower layer to a higher one.

Every import counts, also those inside functions (a lazy import is still a dependency). Layers, lowest
first; a module may import its own layer and those below (see docs/architecture.md):

    0 base:      munit.errors, munit.utils, munit.weights, munit.losses, munit.nets.*
    1 config:    munit.config
    2 parts:     munit.data.*, munit.methods.*, munit.visual, munit.card
    3 training:  munit.training.*
    4 inference: munit.inference, munit.tiling, munit.api, munit.interop.* (other codebases' files, read into a Model)
    5 uses:      munit.eval.*, munit.export, munit.app
    6 entry:     munit (the package), munit.cli, munit.cli_doc, munit.config_doc

Usage: python scripts/check_imports.py [PACKAGE_DIR]; prints each problem and exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS = [
    ("base", ("munit.errors", "munit.utils", "munit.weights", "munit.losses", "munit.nets")),
    ("config", ("munit.config",)),
    ("parts", ("munit.data", "munit.methods", "munit.visual", "munit.card")),
    ("training", ("munit.training",)),
    ("inference", ("munit.inference", "munit.tiling", "munit.api", "munit.interop")),
    ("uses", ("munit.eval", "munit.export", "munit.app")),
    ("entry", ("munit.cli", "munit.cli_doc", "munit.config_doc", "munit")),
]


def layer_of(module: str) -> int:
    """Index into LAYERS of the most specific prefix that names `module` or a package holding it."""
    best, length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    if best is None:
        raise SystemExit(f"{module}: in no layer of scripts/check_imports.py; add it to LAYERS")
    return best


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The munit modules that `path` imports anywhere in its body (`from munit.x import y` counts as munit.x.y
    when that is a module, else munit.x)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # Relative: `from ..x import y` inside munit.a.b is munit.x.y.
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t == "munit" or t.startswith("munit.")}
    return found - {name}


def check(root: Path) -> list[str]:
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {name: imports(path, name, set(paths)) for name, path in paths.items()}
    problems = []
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(name):
                problems.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} "
                                f"({LAYERS[layer_of(target)][0]}), a higher layer")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_path_through(graph, sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A closed path from the component's first module back to it, inside the component (breadth first)."""
    start, members = component[0], set(component)
    previous, frontier = {start: None}, [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
            if nxt not in previous:
                previous[nxt] = node
                frontier.append(nxt)
    return component


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "munit"
    problems = check(root)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{root}: no import cycles, no imports from a lower layer to a higher one")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
