"""What the project promises in writing: documented error codes and settings, one problem shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from comments.config import PARSERS
from comments.errors import CODES, Problem

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


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


def readme_command(heading: str) -> str:
    """The one shell command in the README section under `## heading`."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert "\n" not in block, f"'{heading}' shows more than one line to paste"
    return block


@pytest.mark.parametrize("heading", ["Run it", "Run the tests"])
def test_the_readme_commands_work_on_a_system_python(heading):
    # Debian's and Ubuntu's Python refuse `pip install` outside a virtual environment.
    command = readme_command(heading)
    assert command.startswith("(python3 -m venv .venv || (")
    assert "pip install" not in command.replace(".venv/bin/pip install", "")


def test_ci_runs_the_readme_test_command_exactly():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_command("Run the tests") in ci
