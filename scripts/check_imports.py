"""Check the import graph of the project's apps: no circles between files, no app importing one above it.

Reads every module of the apps (and config/) with `ast`, imports inside functions included, since a lazy
import is still a dependency, only a hidden one. Two rules:

1. No circle: no file reaches itself through the imports of others (files of one app included).
2. Apps import downwards only, as listed in ALLOWED below (DEVELOPERS.md, "Layout"): an app may import
   itself, the ones it lists, and the shared ones (accounts, core, llm); llm imports none of the apps.

Exit status 1 and one line per problem when a rule is broken; `--graph` prints the app-level edges.
Run by .ci/run and by tests/test_structure.py.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The project's packages. `config` (settings, urls, celery) and `cycles` sit on top and may import any app.
APPS = ("accounts", "core", "llm", "curation", "annotation", "generation", "releases", "evaluation", "cycles")
TOP = ("config", "cycles")
SHARED = ("accounts", "core", "llm")
ALLOWED: dict[str, set[str]] = {
    "accounts": {"core"},
    "core": set(),
    "llm": {"accounts", "core"},  # none of the domain apps
    "curation": set(SHARED),
    "annotation": {"curation", *SHARED},
    "generation": {"curation", *SHARED},
    "releases": {"curation", *SHARED},
    "evaluation": {"curation", "releases", *SHARED},
}


def project_files(root: Path = ROOT) -> list[Path]:
    files = []
    for package in (*APPS, "config"):
        files += [p for p in (root / package).rglob("*.py") if "migrations" not in p.relative_to(root).parts]
    return sorted(files)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = ROOT) -> set[str]:
    """The project modules a file imports, anywhere in it (functions included)."""
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        # The longest known prefix: `a.b.c` may be a module or a name inside module `a.b`.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != this:
            found.add(name)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from pkg import module` imports the module
                full = f"{source}.{alias.name}"
                add(full if full in known else source)
    return found


def build_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = project_files(root)
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): imported_modules(p, known, root) for p in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where an app imports one it may not."""
    bad = []
    for module, targets in sorted(graph.items()):
        app = module.split(".")[0]
        if app in TOP:
            continue
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != app and other not in ALLOWED[app]:
                bad.append((module, target))
    return bad


def problems(root: Path = ROOT) -> list[str]:
    graph = build_graph(root)
    out = [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    out += [f"upward import: {a} imports {b}" for a, b in upward_imports(graph)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print the app-level import edges")
    args = parser.parse_args(argv)
    if args.graph:
        edges: dict[str, set[str]] = defaultdict(set)
        for module, targets in build_graph().items():
            for target in targets:
                if target.split(".")[0] != module.split(".")[0]:
                    edges[module.split(".")[0]].add(target.split(".")[0])
        for app in sorted(edges):
            print(f"{app} -> {', '.join(sorted(edges[app]))}")
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} import problem(s)", file=sys.stderr)
        return 1
    print("imports: no circles, no upward imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
