"""What the project promises in writing: documented codes and settings, and walls between rooms."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from comments.config import PARSERS
from comments.errors import CODES, Problem

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# Which modules of the package may import which libraries.
WALLS = {
    "starlette": {"api", "app", "admin", "mailroutes", "feeds"},
    "uvicorn": {"cli"},
    "sqlalchemy": {"tables", "store", "db"},
    "alembic": {"db"},
    "bleach": {"sanitize"},
    "markdown_it": {"sanitize"},
    "itsdangerous": {"tokens"},
    "argon2": {"accounts"},
    "jinja2": {"admin"},
    "smtplib": {"mail"},
    "lxml": {"foreign"},
    "markdownify": {"foreign"},
    "sqlite3": {"foreign"},  # Isso's database is a file we read, not our database
    "tqdm": {"cli"},
    "redis": {"ratelimit"},
}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_error_code_is_in_the_readme(code):
    status, _title = CODES[code]
    assert f"| {status} | `{code}` |" in README


@pytest.mark.parametrize("setting", sorted(PARSERS))
def test_every_setting_is_in_the_readme(setting):
    assert f"`COMMENTS_{setting.upper()}`" in README


def test_problem_document_shape():
    problem = Problem("text_too_long", "too long", field="text")
    assert problem.to_dict() == {
        "type": "https://comments.invalid/problems/text_too_long",
        "title": "Text too long",
        "status": 422,
        "detail": "too long",
        "code": "text_too_long",
        "field": "text",
    }
    with pytest.raises(ValueError):
        Problem("made_up_code", "x")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "comments").glob("*.py")))
def test_only_the_right_rooms_import_each_library(module):
    imported = imported_roots(ROOT / "comments" / f"{module}.py")
    for library, allowed in WALLS.items():
        if library in imported:
            assert module in allowed, f"comments/{module}.py imports {library}"
