"""Live capture: record the lab's packets to a pcap while a notebook makes calls.

:class:`LiveCapture` uses scapy's ``AsyncSniffer`` when this process may capture, else
``dumpcap`` or ``tcpdump`` (with their own capture rights), else raises a
:class:`~voiplab.errors.CaptureError` that names the fixes. Privileges are checked
*before* starting. Without any, a phone's own trace still gives the SIP flow
(``vl.Flow.from_trace(phone.trace())``).

Taught in notebooks 03 and 04.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CaptureError
from ..paths import scratch_dir

__all__ = ["CAPTURE_FIXES", "NO_CAPTURE_ENV", "LiveCapture", "capture_methods"]

#: set (to anything but "0") to behave as a user without capture privileges
NO_CAPTURE_ENV = "VOIPLAB_NO_CAPTURE"

CAPTURE_FIXES = (
    "run as root; or give dumpcap the capture capabilities "
    "(sudo setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap) and add your user to the "
    "wireshark group (sudo usermod -aG wireshark $USER, then log in again); or use the phone's "
    "trace() with vl.Flow.from_trace()"
)
_CAP_NET_RAW = 13
_CAP_NET_ADMIN = 12
_START_TIMEOUT_S = 5.0
_FLUSH_S = {"dumpcap": 0.6, "tcpdump": 0.1, "scapy": 0.05}
# dumpcap says "Capturing on" a few ms before its capture loop runs: wait that long.
_SETTLE_S = {"dumpcap": 0.2, "tcpdump": 0.02}
_ARPHRD_LOOPBACK = 772


def _effective_capabilities() -> int:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", text, re.MULTILINE)
    return int(match.group(1), 16) if match else 0


def _process_can_capture() -> bool:
    """Whether this Python process may open raw sockets (root or CAP_NET_RAW)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True
    return bool(_effective_capabilities() & (1 << _CAP_NET_RAW))


def _file_has_capture_caps(path: str) -> bool:
    try:
        value = os.getxattr(path, "security.capability")
    except (OSError, AttributeError):
        return False
    if len(value) < 8:
        return False
    permitted = int.from_bytes(value[4:8], "little")
    return bool(permitted & (1 << _CAP_NET_RAW))


def _tool_can_capture(path: str) -> bool:
    """Whether running ``path`` would be allowed to capture."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True
    try:
        info = os.stat(path)
    except OSError:
        return False
    if info.st_mode & 0o4000 and info.st_uid == 0 and os.access(path, os.X_OK):
        return True
    return _file_has_capture_caps(path) and os.access(path, os.X_OK)


def capture_methods() -> list[str]:
    """The live-capture methods usable here, best first: ``"scapy"``, ``"dumpcap"``, ``"tcpdump"``.

    ``VOIPLAB_NO_CAPTURE=1`` makes it ``[]`` even for root: how a notebook runs for a student
    without capture privileges (the tests and instructors use it to try that path).
    """
    if os.environ.get(NO_CAPTURE_ENV, "") not in ("", "0"):
        return []
    methods = []
    if _process_can_capture():
        methods.append("scapy")
    for tool in ("dumpcap", "tcpdump"):
        path = shutil.which(tool)
        if path and _tool_can_capture(path):
            methods.append(tool)
    return methods


def _is_loopback(interface: str) -> bool:
    try:
        return int(Path(f"/sys/class/net/{interface}/type").read_text()) == _ARPHRD_LOOPBACK
    except (OSError, ValueError):
        return interface in ("lo", "lo0")


def _bpf(addresses: Sequence[str], ports: Sequence[int] | None) -> str:
    parts = []
    if addresses:
        parts.append("(" + " or ".join(f"host {a}" for a in addresses) + ")")
    if ports:
        parts.append("(" + " or ".join(f"port {p}" for p in ports) + ")")
    return " and ".join(parts)


class LiveCapture:
    """Record the lab's traffic to a pcap file while something happens.

    ::

        capture = LiveCapture("lo", addresses=["127.0.0.80", "127.0.0.82"])
        capture.start()
        ...                       # register, call, hang up
        path = capture.stop()     # a pcap file
        flow = Flow.from_pcap(path)

    Parameters:
        interface: the interface (``"lo"`` for the local lab).
        addresses: only packets from/to these hosts (all if empty).
        ports: only these ports (all if ``None``, so RTP is recorded too).
        path: the pcap to write (a temporary file if ``None``).
        method: ``"scapy"``, ``"dumpcap"`` or ``"tcpdump"``; the best available if ``None``.

    Raises:
        CaptureError: (from :meth:`start`) capturing is not permitted here; the message
            names the fixes.

    Taught in notebook 03 and 04.
    """

    def __init__(
        self,
        interface: str = "lo",
        addresses: Sequence[str] = (),
        ports: Sequence[int] | None = None,
        path: str | os.PathLike[str] | None = None,
        method: str | None = None,
    ) -> None:
        self.interface = interface
        self.addresses = tuple(addresses)
        self.ports = tuple(ports) if ports is not None else None
        self.path = Path(path) if path is not None else None
        self.method = method
        self._process: subprocess.Popen[bytes] | None = None
        self._sniffer: Any = None  # a scapy AsyncSniffer (scapy is untyped)
        self._used: str | None = None

    @property
    def filter(self) -> str:
        """The BPF filter used."""
        return _bpf(self.addresses, self.ports)

    @property
    def running(self) -> bool:
        """Whether the capture is running."""
        return self._used is not None

    def check(self) -> str:
        """The method that :meth:`start` will use.

        Raises:
            CaptureError: no method is permitted; the message names the fixes.
        """
        available = capture_methods()
        if self.method is not None:
            if self.method not in ("scapy", "dumpcap", "tcpdump"):
                raise CaptureError(
                    f"capture method {self.method!r} is unknown: use 'scapy', 'dumpcap' or 'tcpdump'"
                )
            if self.method not in available:
                raise CaptureError(f"live capture with {self.method} is not permitted here: {CAPTURE_FIXES}")
            return self.method
        if not available:
            raise CaptureError(f"live capture is not permitted for this user: {CAPTURE_FIXES}")
        return available[0]

    def start(self) -> LiveCapture:
        """Check privileges, then start capturing; returns ``self``.

        Raises:
            CaptureError: not permitted, already running, or the capture tool failed to start.
        """
        if self.running:
            raise CaptureError("live capture is already running: call stop() first")
        method = self.check()
        if self.path is None:
            self.path = scratch_dir("captures", "live-") / "capture.pcap"
        if method == "scapy":
            self._start_scapy()
        else:
            self._start_tool(method)
        self._used = method
        return self

    def _start_scapy(self) -> None:
        from scapy.sendrecv import AsyncSniffer  # scapy: only for this capture method (slow to load)

        started = threading.Event()
        options: dict[str, object] = {}
        if _is_loopback(self.interface):
            # On loopback a listening socket sees each packet twice (outgoing and incoming);
            # scapy's L2Socket drops the outgoing copy, as libpcap does.
            from scapy.config import conf  # scapy: as above

            options["L2socket"] = conf.L2socket
        self._sniffer = AsyncSniffer(
            iface=self.interface,
            filter=self.filter or None,
            store=True,
            started_callback=started.set,
            **options,
        )
        try:
            self._sniffer.start()
        except (OSError, RuntimeError) as error:
            raise CaptureError(
                f"live capture on {self.interface!r} failed to start ({error}): {CAPTURE_FIXES}"
            ) from None
        if not started.wait(_START_TIMEOUT_S):
            raise CaptureError(
                f"live capture on {self.interface!r} did not start within {_START_TIMEOUT_S} s: "
                "check the interface name (ip link)"
            )

    def _start_tool(self, method: str) -> None:
        tool = shutil.which(method)
        assert tool is not None and self.path is not None
        if method == "dumpcap":
            command = [tool, "-i", self.interface, "-P", "-q", "-w", str(self.path)]
            if self.filter:
                command += ["-f", self.filter]
            ready = b"Capturing on"
        else:
            command = [tool, "-i", self.interface, "--immediate-mode", "-U", "-n", "-w", str(self.path)]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command += ["-Z", "root"]
            if self.filter:
                command.append(self.filter)
            ready = b"listening on"
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        seen = b""
        os.set_blocking(process.stderr.fileno(), False)
        while time.monotonic() < deadline:
            chunk = process.stderr.read() or b""
            seen += chunk
            if ready in seen:
                break
            if process.poll() is not None:
                seen += process.stderr.read() or b""
                raise CaptureError(
                    f"live capture with {method} failed to start ({seen.decode(errors='replace').strip()}): "
                    f"check the interface name, or {CAPTURE_FIXES}"
                )
            time.sleep(0.01)
        else:
            process.terminate()
            process.wait()
            raise CaptureError(
                f"live capture with {method} did not start within {_START_TIMEOUT_S} s: "
                "check the interface name (ip link)"
            )
        time.sleep(_SETTLE_S[method])
        self._process = process

    def stop(self) -> Path:
        """Stop capturing and return the path of the pcap file.

        Raises:
            CaptureError: the capture is not running.
        """
        if not self.running or self.path is None:
            raise CaptureError("live capture is not running: call start() first")
        if self._sniffer is not None:
            from scapy.utils import wrpcap  # scapy: only for this capture method

            time.sleep(0.05)
            packets = self._sniffer.stop()
            wrpcap(str(self.path), packets if packets is not None else [])
            self._sniffer = None
        elif self._process is not None:
            # dumpcap delivers packets in blocks (250 ms timeout): let the last ones reach the file
            time.sleep(_FLUSH_S[self._used or ""])
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=_START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        self._used = None
        return self.path

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.stop()

    def __repr__(self) -> str:
        state = f"running ({self._used})" if self.running else "stopped"
        return f"<LiveCapture {self.interface} filter={self.filter!r} {state} -> {self.path}>"
