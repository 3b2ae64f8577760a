"""The code's layers (docs/layout.md): models import nothing above them; files stay short."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metazoo"
# What `metazoo/algorithms/` must not import: data files, scorers, recipes, the CLI.
ABOVE_MODELS = ("data", "evaluation", "lake", "protocols", "recipes", "cli", "demo", "training")
MAX_LINES = 400


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "algorithms").rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_models_import_nothing_above_them(path):
    forbidden = [
        name
        for name in imported_modules(path)
        for layer in ABOVE_MODELS
        if name == f"metazoo.{layer}" or name.startswith(f"metazoo.{layer}.")
    ]
    assert not forbidden, f"{path.relative_to(PACKAGE)} imports {sorted(forbidden)}"


def test_no_module_is_longer_than_the_limit():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from metazoo.protocols import remeasure\n")
    assert "metazoo.protocols" in imported_modules(module)
