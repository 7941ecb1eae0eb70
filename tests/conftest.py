"""Shared fixtures and the rule for missing components.

A test that needs a component (tshark, Asterisk, pjsua2, Chromium) calls
``require(...)``: on a developer machine without it the test is skipped with
the install hint, but in CI (``CI`` set) a missing component is a failure,
never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voiplab.teach.samples import SAMPLE_DIR

IN_CI = bool(os.environ.get("CI"))


def require(condition: bool, what: str, hint: str) -> None:
    """Skip (locally) or fail (in CI) when a component the test needs is missing."""
    if condition:
        return
    message = f"{what} is missing: {hint}"
    if IN_CI:
        pytest.fail(message + " (CI must install it)")
    pytest.skip(message)


def eventually(check: Callable[[], Any], timeout: float = 8.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something true (panels, calls and phones change from threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what or check}"
        time.sleep(0.05)


def require_tool(name: str, hint: str | None = None) -> str:
    """The path of an executable the test needs (see :func:`require`)."""
    path = shutil.which(name)
    require(path is not None, f"the program {name}", hint or f"install it (apt-get install {name})")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path to tshark, the reference oracle for SIP fields and RTP statistics."""
    return require_tool("tshark", "apt-get install tshark")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: real captures recorded from the local lab."""
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def pbx():
    """The local lab's real Asterisk, started for the test session (left running if it already was)."""
    from voiplab.devices.pbx import find_asterisk
    from voiplab.errors import PbxError

    try:
        find_asterisk()
    except PbxError as e:
        require(False, "Asterisk", str(e))
    from voiplab.devices.lab import Lab

    lab = Lab()
    started = lab.pbx.start()
    yield lab.pbx
    if started:
        lab.down()  # also the simulated Alcatel that notebooks and tests started


@pytest.fixture(scope="module")
def lab(pbx):
    """The local lab with its simulated Alcatel running (stopped at the end if started here)."""
    from voiplab.devices.lab import Lab

    the_lab = Lab()
    alcatel = the_lab.simulated_alcatel
    assert alcatel is not None
    started = alcatel.start(timeout=5)
    yield the_lab
    if started:
        alcatel.stop()


@pytest.fixture()
def phone(lab):
    """rpi's phone in the local lab, registered (closed after the test)."""
    p = lab.phone("rpi")
    p.register()
    yield p
    p.close()


def _voiplab_temp_files() -> set[str]:
    """voiplab's files of this user in the system's temporary directory (other users' are theirs)."""
    import tempfile

    found = set()
    for p in Path(tempfile.gettempdir()).iterdir():
        if p.name.startswith("voiplab"):
            try:
                if p.lstat().st_uid == os.getuid():
                    found.add(p.name)
            except FileNotFoundError:
                continue
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_the_temporary_directory():
    """After the whole suite, is nothing of voiplab's left in the system's temporary directory?"""
    before = _voiplab_temp_files()
    yield
    left = sorted(_voiplab_temp_files() - before)
    assert left == [], f"the test suite left {left} in the temporary directory: clean up after each test"
