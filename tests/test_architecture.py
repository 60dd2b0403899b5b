"""The package's structure: imports follow the data flow (no cycles, also through imports
inside functions), no module takes another's private names, and `import gradgen` loads
none of the compiler's heavy dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys

from support import REPO, import_blocked_modules_snippet

PACKAGE = REPO / "gradgen"


def _module_name(path) -> str:  # noqa: ANN001
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> [(imported gradgen module, names taken from it)], every import statement
    (top level or in a function), `from gradgen import x` resolved to gradgen.x when x is a
    module."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for name, path in modules.items():
        edges = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges += [(a.name, []) for a in node.names if a.name.startswith("gradgen")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradgen"):
                assert node.module is not None
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    if submodule in modules:
                        edges.append((submodule, []))
                    else:
                        edges.append((node.module, [alias.name]))
        found[name] = edges
    return found


def test_imports_have_no_cycles() -> None:
    graph = {m: {target for target, _ in edges if target != m} for m, edges in _imports().items()}
    # A package's __init__ importing its own modules is not a cycle of the data flow.
    for module, targets in graph.items():
        targets.difference_update({t for t in targets if module == t.rsplit(".", 1)[0]})
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_module_imports_another_modules_private_names() -> None:
    taken = [
        f"{module} takes {name} from {target}"
        for module, edges in _imports().items()
        for target, names in edges
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not taken, taken


def test_import_gradgen_loads_no_sympy_black_or_jinja2() -> None:
    """A model file's import (and training code importing one) needs none of them; they
    load when something is compiled."""
    script = (
        "import sys\n"
        "import gradgen as gg\n"
        "heavy = [m for m in ('sympy', 'black', 'jinja2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "@gg.function(wrt='x')\n"
        "def f(x: gg.Array['N']):\n"
        "    return gg.sum(gg.tanh(x))\n"
        "assert 'sympy' not in sys.modules\n"
        "gg.compile_source  # the compiler is still there, loaded on use\n"
        "assert 'sympy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_generated_code_check_blocks_imports() -> None:
    """The helper the generated-module tests use really blocks an import (so a test that
    relies on it cannot pass by accident)."""
    script = import_blocked_modules_snippet(["sympy"]) + "import sympy\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0 and "sympy" in result.stderr
