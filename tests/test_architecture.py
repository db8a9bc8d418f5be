"""The layering the design promises, checked on the code itself (issue 16).

No import cycle between modules; no function-local import except the CLI's lazy loading of the
web app and the scheduler, each with its reason beside it; and the import-linter contracts of
pyproject.toml (mailer independent of the domain, services free of the edges and of Flask).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mailer", "subscribers")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_around_a_loop() -> None:
    # Imports under `if TYPE_CHECKING:` are annotations only: they never run.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == []


def _function_local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append((node.lineno, ast.unparse(node)))
    return found


def _says_why(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or just above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and (
        not lines[above].strip() or lines[above].lstrip().startswith(("from ", "import "))
    ):
        above -= 1
    return above >= 0 and lines[above].lstrip().startswith("#")


def test_imports_are_at_the_top_except_the_clis_lazy_loading_which_says_why() -> None:
    sources = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    sources.append(ROOT / "scheduler.py")
    misplaced, unexplained = [], []
    for path in sources:
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("subscribers", "migrations"):
            continue  # Alembic's scripts, each run on its own
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, statement in _function_local_imports(path):
            where = f"{relative}:{lineno}: {statement}"
            if relative.parts[:2] != ("subscribers", "cli"):
                misplaced.append(where)
            elif not _says_why(lines, lineno):
                unexplained.append(where)
    assert misplaced == []
    assert unexplained == []


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.lower()
