"""The walls between rooms, read from the imports: data flows HTTP -> validate -> service -> store,
each library stays in the room that owns it, and no room outgrows a reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "comments"
MODULES = sorted(path.relative_to(PACKAGE) for path in PACKAGE.rglob("*.py"))

# Which rooms of the package may import which libraries. A room is a top-level module or package.
WALLS = {
    "starlette": {"api", "app", "admin", "mailroutes", "readerroutes", "feeds", "threadpage"},
    "uvicorn": {"serving"},  # the HTTP server, run by `comments serve`
    "sqlalchemy": {"tables", "store", "db"},
    "alembic": {"db"},
    "bleach": {"sanitize"},
    "markdown_it": {"sanitize"},
    "itsdangerous": {"tokens"},
    "argon2": {"accounts"},
    "jinja2": {"admin", "threadpage"},
    "smtplib": {"mail"},
    "lxml": {"foreign"},
    "sqlite3": {"foreign"},  # Isso's database is a file we read, not our database
    "tqdm": {"cli"},
    "redis": {"ratelimit", "streams"},  # counters of the rate limits; live streams' pub/sub
}
# The rooms that speak HTTP; below them, nothing may know they exist.
WEB = {
    "api",
    "app",
    "admin",
    "mailroutes",
    "readerroutes",
    "feeds",
    "openapi",
    "readeropenapi",
    "threadpage",
}
# What the store may build on: the models it returns and the tables it queries.
STORE_READS = {"models", "tables", "store"}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# Data, not logic: tables that read best whole (none yet; name them here, module:function).
LONG_BY_NATURE: set[str] = set()


def room_of(module: Path) -> str:
    return module.parts[0].removesuffix(".py")


def imports_of(module: Path) -> tuple[set[str], set[str]]:
    """(third-party and standard roots, rooms of this package) that a module imports."""
    libraries, rooms = set(), set()
    for node in ast.walk(ast.parse((PACKAGE / module).read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "comments":
                names = [f"comments.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "comments" and len(parts) > 1:
                rooms.add(parts[1])
            elif parts[0] != "comments":
                libraries.add(parts[0])
    return libraries, rooms


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_each_library_stays_in_its_room(module):
    libraries, _ = imports_of(module)
    for library, allowed in WALLS.items():
        if library in libraries:
            assert room_of(module) in allowed, f"comments/{module} imports {library}"


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_no_arrow_runs_back_up(module):
    _, rooms = imports_of(module)
    room = room_of(module)
    if room not in WEB:
        assert not rooms & WEB, f"comments/{module} knows the web rooms {rooms & WEB}"
    if room == "store":
        assert rooms <= STORE_READS, f"comments/{module} imports {rooms - STORE_READS}"


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_no_room_outgrows_a_reader(module):
    source = (PACKAGE / module).read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"comments/{module} is too long"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if f"{module.with_suffix('')}:{node.name}" not in LONG_BY_NATURE:
                assert length <= MAX_FUNCTION_LINES, f"{module}:{node.name} has {length} lines"


def test_the_walls_see_every_room():
    rooms = {room_of(module) for module in MODULES}
    assert {"store", "api", "service", "sanitize", "tokens"} <= rooms
    assert len(MODULES) > len(rooms), "the store package is read module by module"
