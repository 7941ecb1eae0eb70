"""Do the packaging files agree with each other?"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _environment_yml_requirements() -> dict[str, str]:
    """Requirements of environment.yml (conda and pip sections), without python, pip and -e ."""
    reqs: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("\ndependencies:"):].splitlines():
        m = re.match(r"^\s+- ([A-Za-z0-9_.\-]+[^#]*?)\s*(#.*)?$", line)
        if not m or m.group(1).endswith(":"):
            continue
        spec = m.group(1).strip()
        name = _name(spec)
        if name in {"python", "pip", "-e"} or spec.startswith("-e"):
            continue
        reqs[name] = spec.replace(" ", "")
    return reqs


def test_environment_yml_lists_the_runtime_dependencies_of_pyproject() -> None:
    """Do environment.yml and pyproject.toml list the same runtime dependencies, with the same bounds?"""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    conda = _environment_yml_requirements()
    assert sorted(conda) == sorted(pyproject)
    assert conda == pyproject


def test_environment_yml_pins_python_311() -> None:
    """Does the conda environment use Python 3.11, the course's version?"""
    assert "  - python=3.11" in (ROOT / "environment.yml").read_text().splitlines()


def test_console_script_points_at_the_cli() -> None:
    """Is the `voiplab` command the CLI's main()?"""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["voiplab"] == "voiplab.cli:main"
    from voiplab.cli.main import main

    assert callable(main)
