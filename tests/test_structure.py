"""The shape of the code: no import loops, dependencies one way, every module importable on its own.

A table that imports the handlers while a handler imports the table works only as long as nobody
imports that handler first (STYLE.md, 17); a lazy import inside a function hides such a loop
without breaking it, so imports inside functions count here too. Only ``if TYPE_CHECKING:``
blocks, which never run, are left out.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "jobs", "messages")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of ours, by dotted name (Alembic's revision files are scripts, not modules)."""
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "versions" not in path.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(package: str, tree: ast.AST, known: set[str]) -> set[str]:
    """What a module of ``package`` imports when it runs: anywhere, in functions too, but ``if TYPE_CHECKING:``."""
    found: set[str] = set()
    nodes: list[ast.AST] = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from pkg import mod`` imports the module pkg/mod.py, not only the package.
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
        nodes.extend(ast.iter_child_nodes(node))
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports: ours by dotted name, others by their full imported name."""
    modules = _modules()
    known = set(modules)
    return {name: _imported(name if path.name == "__init__.py" else name.rpartition(".")[0],
                            ast.parse(path.read_text(encoding="utf-8")), known)
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop among our modules (as a path that ends where it starts), or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for target in sorted(graph[name] & graph.keys()):
            if found := visit(target, path + [name]):
                return found
        done.add(name)
        return None

    return next((found for name in sorted(graph) if (found := visit(name, []))), None)


def test_the_cycle_finder_names_a_loop_and_resolves_from_package_import_module():
    known = {"a", "a.b", "a.c"}
    tree = ast.parse("from a import b\nfrom . import c\nif TYPE_CHECKING:\n    import x\n"
                     "def f():\n    import y\n")
    assert _imported("a", tree, known) == {"a.b", "a.c", "y"}
    assert _cycle({"a": {"b"}, "b": {"c", "os"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_of_ours_imports_itself_back_through_others():
    cycle = _cycle(_graph())
    assert cycle is None, "import loop: " + " -> ".join(cycle)


def test_dependencies_point_one_way():
    graph = _graph()

    def offenders(prefix: str, forbidden) -> list[str]:
        return sorted(f"{name} imports {target}" for name, targets in graph.items()
                      if name == prefix or name.startswith(prefix + ".") for target in targets if forbidden(target))

    def within(*packages: str):
        return lambda target: any(target == p or target.startswith(p + ".") for p in packages)

    assert offenders("messages", within("bot", "jobs")) == []
    assert offenders("jobs", within("bot")) == []
    assert offenders("jobs.storage", lambda t: within("jobs")(t) and not within("jobs.storage")(t)) == []
    assert offenders("jobs.care.planning", within("telegram")) == []


# Run in one interpreter: import the other projects' modules ours use (the slow part, done once),
# then fork a child per module of ours, in which none of ours is loaded yet, and import it there
# (four at a time: most of a child's time is spent creating the models' classes).
_IMPORT_EACH_ALONE = """
import importlib, json, os, sys, traceback
job = json.load(sys.stdin)
for name in job["preload"]:
    try:
        importlib.import_module(name)
    except Exception:
        pass  # an optional extra (psycopg) or a name that is not a module: the child imports it itself
assert not any(name.split(".")[0] in job["ours"] for name in sys.modules), "preloading imported ours"
failures, running = [], {}
for index, name in enumerate(job["modules"]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            os._exit(0)
        except BaseException as error:
            os.write(write, traceback.format_exception_only(error)[-1].strip().encode())
            os._exit(1)
    os.close(write)
    running[pid] = (name, read)
    while running and (len(running) >= job["at_once"] or index == len(job["modules"]) - 1):
        pid, status = os.wait()
        name, read = running.pop(pid)
        with os.fdopen(read) as pipe:  # a line of text: it fits the pipe's buffer while the child exits
            said = pipe.read()
        if status != 0:
            failures.append(f"{name}: {said}")
print(json.dumps(failures))
"""


def test_every_module_imports_on_its_own():
    graph = _graph()
    names = sorted(name for name in graph if name != "bot.__main__" and ".migrations" not in name)
    preload = sorted({target for targets in graph.values() for target in targets
                      if target.split(".")[0] not in PACKAGES})
    job = json.dumps({"modules": names, "preload": preload, "ours": PACKAGES, "at_once": 4})
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE], cwd=ROOT, input=job, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
