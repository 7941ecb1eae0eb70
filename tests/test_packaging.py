"""Do the packaging files agree with each other, and does the wheel work installed alone?

The ``wheel`` tests build the wheel and install it in a fresh venv outside the checkout
(about a minute; PyPI must be reachable for setuptools and numpy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy
import pytest

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
    from voiplab.cli import main

    assert main.__module__ == "voiplab.cli.main"


# ---------------------------------------------------------------- the wheel, installed outside the checkout

#: what a wheel build copies: the checkout less what is not source (mirrors .gitignore)
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "dist", "__pycache__", "*.egg-info",
                                    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "artifacts",
                                    ".ipynb_checkpoints")
SAMPLES = ["call_alcatel_to_rpi", "call_rpi_to_alcatel", "register_401"]
PIP_TIMEOUT_S = 600


def _run(*cmd: str | Path, cwd: Path, timeout: float = PIP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _stream_rows(table: str) -> list[list[str]]:
    """The stream rows of a ``tshark -q -z rtp,streams`` table, each split into its fields."""
    return [line.split() for line in table.splitlines() if re.search(r"\s0x[0-9A-F]{8}\s", line)]


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel built from a copy of the checkout (the shared checkout gets no build/ nor egg-info), and the log.

    ``pip wheel -v`` so that setuptools' own warnings are in the log.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    done = _run(sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-deps", "-v",
                "-w", work / "dist", source, cwd=work)
    wheels = list((work / "dist").glob("voiplab-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], done.stdout + done.stderr


@pytest.mark.wheel
def test_wheel_builds_without_deprecation_warnings(built_wheel: tuple[Path, str]) -> None:
    """Does setuptools build the wheel without a deprecation warning (the old license = {text = ...} gave one)?"""
    _, log = built_wheel
    warnings_seen = [line for line in log.splitlines() if re.search(r"deprecat", line, re.I)]
    assert warnings_seen == []


@pytest.mark.wheel
def test_wheel_contents(built_wheel: tuple[Path, str]) -> None:
    """Does the wheel hold the sample captures, the browser phone's sources and the licence, and nothing else?"""
    wheel, _ = built_wheel
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert sorted(n for n in names if n.startswith("voiplab/teach/data/")) == [
        f"voiplab/teach/data/{name}.pcap" for name in SAMPLES]
    assert {"voiplab/web/index.html", "voiplab/web/app.js", "voiplab/web/package.json",
            "voiplab/web/package-lock.json"} <= set(names)
    assert [n for n in names if "node_modules" in n or n.startswith(("voiplab/web/build/", "tests/"))] == []
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "voiplab/capture/synth.py" in names and "voiplab/cli/common.py" in names


@pytest.mark.wheel
@pytest.mark.tshark
def test_installed_wheel_analyzes_a_sample_like_tshark(built_wheel: tuple[Path, str], tshark: str,
                                                        tmp_path: Path) -> None:
    """Installed alone in a fresh venv (only numpy beside it), run outside the checkout, does `voiplab analyze`
    on a shipped sample print tshark's rows, and does `import voiplab` leave pjsua2, scapy and matplotlib alone?
    """
    wheel, _ = built_wheel
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run(sys.executable, "-m", "venv", venv, cwd=elsewhere)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", wheel, cwd=elsewhere)
    # the one runtime dependency that analyze needs, at the version the tests use (from pip's cache if it has it)
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"numpy=={numpy.__version__}",
         cwd=elsewhere)
    probe = ("import json, sys; import voiplab as vl; path = vl.sample_capture('call_rpi_to_alcatel'); "
             "print(json.dumps({'file': vl.__file__, 'path': str(path), 'names': vl.sample_names(), "
             "'loaded': [m for m in ('pjsua2', 'scapy', 'matplotlib') if m in sys.modules]}))")
    found = json.loads(_run(python, "-c", probe, cwd=elsewhere).stdout)
    assert Path(found["file"]).is_relative_to(venv) and Path(found["path"]).is_relative_to(venv), found
    assert found["names"] == SAMPLES
    assert found["loaded"] == []
    ours = _run(venv / "bin" / "voiplab", "analyze", found["path"], cwd=elsewhere).stdout
    theirs = subprocess.run([tshark, "-n", "-r", found["path"], "-q", "-z", "rtp,streams"], capture_output=True,
                            text=True, timeout=PIP_TIMEOUT_S, check=True).stdout
    assert len(_stream_rows(ours)) == 3
    assert _stream_rows(ours) == _stream_rows(theirs)
