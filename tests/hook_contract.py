"""The hook contract as the tests see it: read from the specs, never copied.

``hook_specs()`` reads ``django_minio_backend.hookspecs`` itself (names and
argument names). A test that proves a hook carries ``@pytest.mark.hook("name")``;
the ``hook_calls_are_checked`` fixture in conftest.py fails such a test unless it
really called that hook through the plugin manager, and ``marked_hooks()`` finds
the markers in the test sources so tests/test_docs.py can name a hook no test proves.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from django_minio_backend import hookspecs

TESTS = Path(__file__).resolve().parent


def hook_specs() -> dict[str, list[str]]:
    """Every hook spec's name and its argument names, in declaration order."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    }


def _is_hook_mark(node: ast.Call) -> bool:
    # pytest.mark.hook(...) or mark.hook(...)
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "hook"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
    )


def marked_hooks() -> dict[str, list[str]]:
    """Hook name -> the tests (``file::function``) marked as proving it."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in function.decorator_list:
                if isinstance(decorator, ast.Call) and _is_hook_mark(decorator):
                    for arg in decorator.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            found.setdefault(arg.value, []).append(f"{path.name}::{function.name}")
    return found
