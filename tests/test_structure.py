"""The shape issue 20 gave the code, kept: short functions in src/, benchmarks in proportion, and no
script that patches sys.path (the package is installed)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_function_in_src_is_longer_than_80_lines():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
                            f"({node.end_lineno - node.lineno + 1} lines)")
    assert long == [], "split these functions: " + "; ".join(long)


def test_benchmarks_stay_in_proportion():
    lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "benchmarks").glob("*.py"))
    assert lines <= 900, f"benchmarks/*.py has {lines} lines; the budget is about 900 (docs/BENCHMARKS.md)"


def test_no_script_patches_sys_path():
    patched = []
    for folder in ("benchmarks", "studies", "scripts", "src", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
                    patched.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert patched == []


def test_only_the_progress_module_imports_tqdm():
    importers = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "tqdm" or n.startswith("tqdm.") for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == ["src/alexnet/progress.py"]
