"""The shape of the code, as docs/architecture.md states it: no import cycle (lazy imports
included), no method named outside its own package, no module over 500 lines."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tb_featviz"
# Files outside a method's package that may name it: the format contract, the notebook entry
# points and the registry itself (docs/architecture.md, "how to add a method").
MAY_NAME_METHODS = {"metadata.py", "visualize.py", "methods/__init__.py"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: pathlib.Path, name: str, known: set) -> set:
    """Every tb_featviz module `path` imports, at the top or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from package import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def test_no_import_cycle_anywhere_lazy_imports_included():
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    # A package's __init__ that lists its own modules (re-exports) is how Python packages work;
    # a cycle is a module that imports, directly or not, a module that imports it back.
    for name, path in modules.items():
        if path.name == "__init__.py":
            graph[name] = {target for target in graph[name] if not target.startswith(name + ".")}
    state: dict = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycle = trail[trail.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_method_is_named_outside_its_package():
    """A comparison with a method's name outside its package is a switch the next method would
    have to edit (the issue that made one package per method)."""
    from tb_featviz import methods

    names = "|".join(map(re.escape, methods.names()))
    switch = re.compile(rf"(==|!=|\bin)\s*\(?\s*[\"']({names})[\"']|METHOD_[A-Z_]+\b")
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("methods/") and relative != "methods/__init__.py" or relative in MAY_NAME_METHODS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if switch.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    for path in (ROOT / "frontend").glob("*.js"):
        if path.name.startswith("view_") or path.name == "views.js":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(rf"[\"']({names})[\"']", line):
                found.append(f"frontend/{path.name}:{number}: {line.strip()}")
    assert not found, "methods named outside their package:\n" + "\n".join(found)


def test_no_module_over_500_lines():
    long = {str(path.relative_to(ROOT)): n for path in [*PACKAGE.rglob("*.py"), *(ROOT / "frontend").glob("*.js")]
            if (n := len(path.read_text().splitlines())) > 500}
    assert not long, long
