"""The simulated Alcatel IP Touch 4018 (account alcatel/5001 on 127.0.0.81).

In the local lab the desk phone of the report is a daemon built on the same
agent machinery as :class:`voiplab.devices.phone.Phone`. It registers as alcatel/5001,
and like a person at the desk phone:

* an incoming call rings (180 Ringing) for ``[alcatel] ring_s`` seconds (2 s),
  then is answered (200 OK);
* it plays its signal: the Morse code of ``IP TOUCH`` on a 1000 Hz tone
  (:data:`ALCATEL_SIGNAL_HZ`, 80 ms dots), so a notebook can *see* it on a
  spectrogram and detect it (:func:`detect_alcatel_signal`); a graded variant
  changes the tone and the word (``[alcatel] signal_hz``, ``morse``);
* in a graded variant it drops a share of the RTP packets it sends
  (``[alcatel] tx_loss_pct``): the receiver sees gaps in the sequence numbers;
* it records what it hears (a WAV per call) and notes the DTMF digits it receives;
* it hangs up after ``[alcatel] max_call_s`` seconds (60 s);
* it can dial out (``SimulatedAlcatel().call("5002")``), as in chapter 5 of the report.

It runs detached (``python -m voiplab.devices.alcatel run``), with a pid file and a
JSON-lines control socket (``alcatel.sock``) in the lab directory; ``--foreground``
keeps it in the terminal for debugging::

    python -m voiplab.devices.alcatel run --foreground

Taught in notebook 06 (calling the Alcatel, both directions).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np

from ..capture.wav import write_wav
from ..config import Account, LabConfig, load_config
from ..core.audio import detect_tone, morse_signal
from ..core.g711 import SAMPLE_RATE
from ..errors import PhoneDied, PhoneError, VoipLabError
from ..paths import (
    end_child,
    locked,
    owned_pid,
    pid_alive,
    private_dir,
    read_pid_file,
    signal_owned,
    state_dir,
    write_pid_file,
    write_private,
)
from .phone import Call, Phone
from .wire import CallState

__all__ = [
    "ALCATEL_MORSE_TEXT",
    "ALCATEL_RTP_PORT",
    "ALCATEL_SIGNAL_HZ",
    "AlcatelCallRecord",
    "AlcatelStatus",
    "SimulatedAlcatel",
    "alcatel_signal",
    "detect_alcatel_signal",
]

#: the tone of the simulated Alcatel's signal, in Hz
ALCATEL_SIGNAL_HZ = 1000.0
#: the text the simulated Alcatel sends in Morse code
ALCATEL_MORSE_TEXT = "IP TOUCH"
#: one Morse unit (a dot), in seconds
MORSE_UNIT_S = 0.08
#: the Alcatel's local_rtp_port in the report's sipconfig.txt (``[alcatel] rtp_port`` changes it)
ALCATEL_RTP_PORT = 42000
#: how many finished calls status() keeps
CALL_HISTORY = 20
#: seconds between two refreshes of the current call's packet counters (status()["current"])
LIVE_STATS_S = 0.5
#: seconds a control request may take
CONTROL_TIMEOUT_S = 5.0
#: the daemon's module (``python -m``): also how its pid file is checked to be ours
DAEMON_MODULE = "voiplab.devices.alcatel"


class AlcatelCallRecord(TypedDict, total=False):
    """One call of the simulated Alcatel, as :meth:`SimulatedAlcatel.status` reports it.

    ``rx_lost``, ``jitter_ms`` and ``codec`` are there once the call is over.
    """

    remote: str
    number: str
    direction: str
    state: str
    status: int | None
    reason: str
    started: float
    duration: float
    dtmf: str
    rx_packets: int
    tx_packets: int
    recording: str | None
    rx_lost: int
    jitter_ms: float
    codec: str | None


class AlcatelStatus(TypedDict):
    """What :meth:`SimulatedAlcatel.status` returns: registration, current call, last calls."""

    registered: bool
    pid: int
    account: str
    address: str
    pbx: str
    signal_hz: float
    morse: str
    ring_s: float
    max_call_s: float
    tx_loss_pct: int
    current: AlcatelCallRecord | None
    calls: list[AlcatelCallRecord]
    last_error: str


class AlcatelSettings(TypedDict):
    """The daemon's settings file (``run/alcatel.json``), written by :meth:`SimulatedAlcatel.start`."""

    pbx_host: str
    pbx_port: int
    account: dict[str, Any]  # the fields of config.Account (asdict), read back with Account(**...)
    ring_s: float
    max_call_s: float
    signal_hz: float
    morse: str
    tx_loss_pct: int
    rtp_port: int


#: a request on the control socket: ``{"cmd": "status"|"call"|"hangup"|"stop", "number": ...}``
ControlRequest = dict[str, str]


class ControlReply(TypedDict, total=False):
    """The daemon's answer on the control socket: ``result`` when ``ok``, else ``error``."""

    ok: bool
    result: AlcatelStatus | AlcatelCallRecord | dict[str, bool]
    error: str


def alcatel_signal(rate: int = SAMPLE_RATE, text: str = ALCATEL_MORSE_TEXT, frequency: float = ALCATEL_SIGNAL_HZ,
                   unit_s: float = MORSE_UNIT_S, amplitude: float = 0.5) -> np.ndarray:
    """The simulated Alcatel's signal: ``text`` in Morse code on a ``frequency`` Hz tone (int16).

    Taught in notebook 06.
    """
    return morse_signal(text, frequency, rate, unit_s, amplitude)


def detect_alcatel_signal(samples: np.ndarray, rate: int, tolerance: float = 0.02,
                          frequency: float = ALCATEL_SIGNAL_HZ) -> bool:
    """True if the dominant frequency of ``samples`` is the Alcatel's tone (1000 Hz, within 2 %).

    ``frequency``: the tone of a graded variant's Alcatel (``[alcatel] signal_hz``).

    Taught in notebook 06.
    """
    return detect_tone(samples, rate, frequency, tolerance)


def _default_lab_dir() -> Path:
    return state_dir() / "lab"


class SimulatedAlcatel:
    """Start, stop and drive the simulated Alcatel IP Touch 4018 (account alcatel/5001).

    Parameters:
        config: the lab configuration (default: ``load_config()``).
        lab_dir: where the pid file, control socket, log and recordings live
            (default: ``voiplab.paths.state_dir() / "lab"``).

    Example (notebook 06)::

        alcatel = vl.SimulatedAlcatel()
        alcatel.start()            # False if it was already running
        alcatel.status()           # registered? current call? last calls, DTMF received
        alcatel.call("5002")       # the Alcatel calls the Raspberry Pi

    Taught in notebook 06.
    """

    #: False: this one answers by itself (:class:`~voiplab.devices.desk.DeskAlcatel` is the real one)
    real = False
    #: seconds a notebook step waits for it to act (it rings 2 s; the real one needs a person)
    pickup_s = 5.0

    def __init__(self, config: LabConfig | None = None, lab_dir: str | os.PathLike[str] | None = None):
        self.config = config if config is not None else load_config()
        self.lab_dir = Path(lab_dir) if lab_dir else _default_lab_dir()

    def __repr__(self) -> str:
        pid = self.pid()
        state = f"running, pid {pid}" if pid else "stopped"
        acc = self.account
        return f"SimulatedAlcatel({acc.name}/{acc.number} at {acc.address}, {state})"

    # -- files ---------------------------------------------------------------
    @property
    def account(self) -> Account:
        return self.config.account("alcatel")

    @property
    def pid_file(self) -> Path:
        return self.lab_dir / "run" / "voiplab-alcatel.pid"

    @property
    def socket_path(self) -> Path:
        return self.lab_dir / "run" / "alcatel.sock"

    @property
    def settings_file(self) -> Path:
        return self.lab_dir / "run" / "alcatel.json"

    @property
    def log_file(self) -> Path:
        return self.lab_dir / "log" / "alcatel.log"

    @property
    def recordings_dir(self) -> Path:
        return self.lab_dir / "recordings" / "alcatel"

    # -- process ---------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of the running simulated Alcatel, or None."""
        return owned_pid(self.pid_file)

    def is_running(self) -> bool:
        """True while the simulated Alcatel's daemon runs."""
        return self.pid() is not None

    def _write_settings(self) -> None:
        # the account's password is in there: readable by the lab's owner only
        private_dir(self.settings_file.parent)
        write_private(self.settings_file, json.dumps(_settings_from_config(self.config), indent=2))

    @property
    def lock_file(self) -> Path:
        return self.lab_dir / "run" / "alcatel.lock"

    def start(self, timeout: float = 5.0) -> bool:
        """Start the daemon (detached) and wait until it is registered as alcatel/5001.

        Returns:
            True if it was started, False if it was already running.

        Raises:
            PhoneError: it did not register within ``timeout`` seconds (the message
                quotes its log: PBX down, address in use, ...).

        Taught in notebook 06.
        """
        try:
            with locked(self.lock_file, what="the simulated Alcatel"):
                return self._start(timeout)
        except TimeoutError as e:
            raise PhoneError(f"{e}: wait for it to finish, then try again") from None

    def _start(self, timeout: float) -> bool:
        if self.is_running():
            return False
        self._write_settings()
        private_dir(self.log_file.parent)
        cmd = [sys.executable, "-m", DAEMON_MODULE, "run", "--lab-dir", str(self.lab_dir),
               "--settings", str(self.settings_file)]
        t0 = time.monotonic()
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PhoneError(f"the simulated Alcatel exited at start (status {proc.returncode}): "
                                 f"see its log {self.log_file}: {self._log_tail()}")
            with contextlib.suppress(PhoneError):
                if self.status().get("registered"):
                    self.started_in = time.monotonic() - t0
                    return True
            time.sleep(0.05)
        last = ""
        with contextlib.suppress(PhoneError):
            last = self.status().get("last_error") or ""
        end_child(proc)
        raise PhoneError(f"the simulated Alcatel did not register within {timeout:g} s ({last or 'no answer'}): "
                         f"is the PBX running (vl.Pbx().start())? see {self.log_file}")

    def _log_tail(self, n: int = 3) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln.strip()]
            return " | ".join(lines[-n:])
        return ""

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the daemon (it hangs up and unregisters first); never any other process.

        Returns:
            True if it was running.
        """
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(PhoneError):
            self._control({"cmd": "stop"})
        for sig, wait in ((None, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if sig is not None and not signal_owned(self.pid_file, sig):
                break  # gone meanwhile, or no longer ours
            deadline = time.monotonic() + wait
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not pid_alive(pid):
                break
        for p in (self.pid_file, self.socket_path):
            with contextlib.suppress(OSError):
                p.unlink()
        return True

    # -- control channel -------------------------------------------------------
    # dict[str, Any]: the reply's result as json.loads made it (the daemon sent a ControlReply)
    def _control(self, request: ControlRequest, timeout: float = CONTROL_TIMEOUT_S) -> dict[str, Any]:
        """Send one request on the control socket; returns its result (JSON, as the daemon sent it)."""
        path = str(self.socket_path)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
                s.sendall((json.dumps(request) + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except (OSError, TimeoutError) as e:
            raise PhoneError(f"the simulated Alcatel is not reachable ({e.__class__.__name__}): start it with "
                             "vl.SimulatedAlcatel().start() or 'voiplab lab up'") from None
        try:
            reply = json.loads(data)
        except ValueError:
            raise PhoneError("the simulated Alcatel sent a bad reply: restart it (stop(), start())") from None
        if not reply.get("ok"):
            raise PhoneError(reply.get("error") or "the simulated Alcatel refused the request")
        return reply.get("result") or {}

    def status(self) -> AlcatelStatus:
        """Registration, current call and the last calls.

        Each call is a dict with ``remote, number, direction, state, status, reason,
        started, duration, dtmf, rx_packets, tx_packets, recording``; the current call's packet
        counters are refreshed every LIVE_STATS_S during the call (``wait_media`` waits on them).

        Taught in notebook 06.
        """
        return cast(AlcatelStatus, self._control({"cmd": "status"}))

    def call(self, number: str) -> AlcatelCallRecord:
        """Make the Alcatel dial ``number`` (e.g. ``"5002"``); returns the new call's record.

        Taught in notebook 06.
        """
        return cast(AlcatelCallRecord, self._control({"cmd": "call", "number": str(number)}))

    def hangup(self) -> bool:
        """Hang up the Alcatel's current call; True if there was one."""
        return bool(self._control({"cmd": "hangup"}).get("hung_up"))

    def wait_in_call(self, timeout: float = 8.0) -> AlcatelCallRecord:
        """Wait until the Alcatel's current call is answered (CONFIRMED); returns its record.

        Taught in notebook 06 (Asterisk answers the caller 0.5 s *before* the Alcatel rings).
        """
        deadline = time.monotonic() + timeout
        while True:
            current: AlcatelCallRecord = self.status().get("current") or {}
            if current.get("state") == "CONFIRMED":
                return current
            if time.monotonic() > deadline:
                raise PhoneError(f"the simulated Alcatel did not answer within {timeout:g} s (it is "
                                 f"{current.get('state', 'idle')}): check that someone called 5001")
            time.sleep(0.1)

    def wait_media(self, packets: int = 1, timeout: float = 10.0) -> AlcatelCallRecord:
        """Wait until the Alcatel's current call has received ``packets`` RTP packets; returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            current: AlcatelCallRecord = self.status().get("current") or {}
            if current.get("rx_packets", 0) >= packets:
                return current
            if time.monotonic() > deadline:
                raise PhoneError(f"the simulated Alcatel received {current.get('rx_packets', 0)} RTP packets in "
                                 f"{timeout:g} s (it is {current.get('state', 'idle')}): is the other side "
                                 "sending media? Look at the PBX's channels (vl.Pbx().cli('core show channels'))")
            time.sleep(0.1)

    def wait_call_ended(self, timeout: float = 10.0) -> AlcatelCallRecord:
        """Wait until the Alcatel has no call in progress; returns its last call record."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st.get("current") is None:
                return st["calls"][-1] if st.get("calls") else {}
            if time.monotonic() > deadline:
                raise PhoneError(f"the simulated Alcatel is still in a call after {timeout:g} s: hang up with "
                                 "SimulatedAlcatel().hangup()")
            time.sleep(0.1)


# ---------------------------------------------------------------------------
# the daemon


class _Daemon:
    """The simulated Alcatel's process: a Phone plus a ring/answer/hang-up policy."""

    def __init__(self, settings: AlcatelSettings, lab_dir: Path, foreground: bool):
        self.settings = settings
        self.lab_dir = lab_dir
        self.foreground = foreground
        self.sim = SimulatedAlcatel(_config_from_settings(settings), lab_dir)
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.phone: Phone | None = None
        self.registered = False
        self.last_error = ""
        self.pending: queue.Queue[Call] = queue.Queue()
        self.current: AlcatelCallRecord | None = None
        self.current_call: Call | None = None
        self.live_counts: tuple[int, int] = (0, 0)
        self.counted_at = 0.0
        self.history: list[AlcatelCallRecord] = []
        self.requests: queue.Queue[tuple[ControlRequest, queue.Queue[ControlReply]]] = queue.Queue()

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} alcatel: {text}", flush=True)

    def make_phone(self) -> Phone:
        acc = self.sim.account
        signal_samples = alcatel_signal(SAMPLE_RATE, text=self.settings["morse"],
                                        frequency=float(self.settings["signal_hz"]))
        sig = write_wav(self.lab_dir / "run" / "alcatel-signal.wav", signal_samples, SAMPLE_RATE)
        self.sim.recordings_dir.mkdir(parents=True, exist_ok=True)
        return Phone(acc, self.sim.config, audio=sig, record_dir=self.sim.recordings_dir,
                     rtp_port=int(self.settings["rtp_port"]), codecs=("PCMA", "PCMU"),
                     on_incoming=self.pending.put, bind_wait=3.0,
                     tx_loss_pct=int(self.settings["tx_loss_pct"]))

    def ensure_registered(self) -> None:
        if self.phone is not None and not self.phone.is_alive():
            self.log("the phone agent died: starting a new one")
            with contextlib.suppress(VoipLabError):
                self.phone.close()
            self.phone = None
            self.registered = False
        try:
            if self.phone is None:
                self.phone = self.make_phone()
            if not self.phone.registered:
                reg = self.phone.register(timeout=3.0)
                self.log(f"registered: {reg}")
            self.registered = True
            self.last_error = ""
        except PhoneDied as e:
            self.last_error = str(e)
            self.phone = None
        except VoipLabError as e:
            self.registered = False
            if str(e) != self.last_error:
                self.log(f"not registered: {e}")
            self.last_error = str(e)

    def record_of(self, call: Call) -> AlcatelCallRecord:
        return AlcatelCallRecord(remote=call.remote, number=call.number, direction=call.direction,
                                 state=call.state, status=call.status, reason=call.reason,
                                 started=call.history[0][0], duration=round(call.duration, 3),
                                 dtmf=call.dtmf_received, rx_packets=0, tx_packets=0,
                                 recording=str(call.recording_path) if call.recording_path else None)

    def start_call(self, call: Call) -> None:
        self.current_call = call
        self.current = self.record_of(call)
        self.ring_until = time.monotonic() + float(self.settings["ring_s"])
        self.answered_at: float | None = None
        self.live_counts = (0, 0)
        self.counted_at = 0.0

    def finish_call(self, call: Call) -> None:
        record = self.record_of(call)
        with contextlib.suppress(VoipLabError):
            stats = call.stats()
            record["rx_packets"] = int(stats.get("rx_packets", 0))
            record["tx_packets"] = int(stats.get("tx_packets", 0))
            record["rx_lost"] = int(stats.get("rx_lost", 0))
            record["jitter_ms"] = float(stats.get("jitter_ms", 0.0))
            record["codec"] = stats.get("codec")
        record["recording"] = str(call.recording_path) if call.recording_path else None
        self.log(f"call {record['direction']} {record['number']} ended: {record['status']} {record['reason']}, "
                 f"{record['duration']:.1f} s, DTMF {record['dtmf']!r}, rx {record['rx_packets']} packets")
        with self.lock:
            self.history = (self.history + [record])[-CALL_HISTORY:]
            self.current = None
            self.current_call = None

    def step(self) -> None:
        """One round of the policy: adopt incoming calls, answer after ring_s, enforce max_call_s."""
        while not self.pending.empty():
            incoming = self.pending.get()
            if self.current_call is not None:
                self.log(f"busy: declining a call from {incoming.number}")
                with contextlib.suppress(VoipLabError):
                    incoming.decline(486)
                continue
            self.log(f"incoming call from {incoming.number}: ringing {self.settings['ring_s']} s")
            with self.lock:
                self.start_call(incoming)
        call = self.current_call
        if call is None:
            return
        try:
            if call.state == CallState.DISCONNECTED:
                self.finish_call(call)
                return
            if call.direction == "incoming" and self.answered_at is None and time.monotonic() >= self.ring_until:
                call.answer()
                self.answered_at = time.monotonic()
                self.log(f"answered the call from {call.number}")
            confirmed = call.confirmed_at
            if confirmed is not None and time.time() - confirmed > float(self.settings["max_call_s"]):
                self.log(f"hanging up after max_call_s={self.settings['max_call_s']} s")
                call.hangup()
        except VoipLabError as e:
            self.log(f"call error: {e}")
            if call.state == CallState.DISCONNECTED or self.phone is None or not self.phone.is_alive():
                self.finish_call(call)
        record = self.record_of(call)
        if call.confirmed_at is not None and time.monotonic() - self.counted_at >= LIVE_STATS_S:
            # the live packet counters, so that a caller can wait for media (status()["current"])
            self.counted_at = time.monotonic()
            with contextlib.suppress(VoipLabError):
                stats = call.stats()
                self.live_counts = (int(stats.get("rx_packets", 0)), int(stats.get("tx_packets", 0)))
        record["rx_packets"], record["tx_packets"] = self.live_counts
        with self.lock:
            if self.current is not None:
                self.current = record

    def handle(self, req: ControlRequest) -> ControlReply:
        cmd = req.get("cmd")
        if cmd == "status":
            acc = self.sim.account
            with self.lock:
                status = AlcatelStatus(
                    registered=bool(self.registered and self.phone is not None and self.phone.registered),
                    pid=os.getpid(), account=f"{acc.name}/{acc.number}",
                    address=f"{acc.address}:{acc.sip_port}",
                    pbx=f"{self.settings['pbx_host']}:{self.settings['pbx_port']}",
                    signal_hz=float(self.settings["signal_hz"]), morse=self.settings["morse"],
                    ring_s=self.settings["ring_s"], max_call_s=self.settings["max_call_s"],
                    tx_loss_pct=int(self.settings["tx_loss_pct"]),
                    current=self.current.copy() if self.current else None,
                    calls=[c.copy() for c in self.history], last_error=self.last_error,
                )
                return {"ok": True, "result": status}
        if cmd == "stop":
            self.stop_flag.set()
            return {"ok": True, "result": {}}
        # the others touch the phone: run them on the main loop
        box: queue.Queue[ControlReply] = queue.Queue()
        self.requests.put((req, box))
        try:
            return box.get(timeout=CONTROL_TIMEOUT_S - 0.5)
        except queue.Empty:
            return {"ok": False, "error": "the simulated Alcatel is busy: try again"}

    def run_request(self, req: ControlRequest) -> ControlReply:
        cmd = req.get("cmd")
        try:
            if cmd == "call":
                if self.current_call is not None:
                    return {"ok": False, "error": "the simulated Alcatel is already in a call: hang up first "
                                                  "(SimulatedAlcatel().hangup())"}
                if self.phone is None or not self.phone.registered:
                    return {"ok": False, "error": f"the simulated Alcatel is not registered ({self.last_error}): "
                                                  "start the PBX (vl.Pbx().start())"}
                call = self.phone.call(str(req.get("number")))
                with self.lock:
                    self.start_call(call)
                    self.answered_at = time.monotonic()
                self.log(f"calling {call.number}")
                record: AlcatelCallRecord = self.current.copy() if self.current else {}
                return {"ok": True, "result": record}
            if cmd == "hangup":
                current = self.current_call
                if current is None:
                    return {"ok": True, "result": {"hung_up": False}}
                current.hangup()
                return {"ok": True, "result": {"hung_up": True}}
            return {"ok": False, "error": f"the command {cmd!r} is unknown: use status, call, hangup or stop"}
        except VoipLabError as e:
            return {"ok": False, "error": str(e)}

    def serve(self) -> None:
        daemon = self
        sock = self.sim.socket_path
        with contextlib.suppress(OSError):
            sock.unlink()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline()
                try:
                    reply = daemon.handle(json.loads(line))
                except Exception as e:  # noqa: BLE001 - a bad client must not stop the phone
                    reply = {"ok": False, "error": f"bad request: {e}"}
                self.wfile.write((json.dumps(reply) + "\n").encode())

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(sock), Handler)
        threading.Thread(target=self.server.serve_forever, name="alcatel-control", daemon=True).start()

    def run(self) -> int:
        run_dir = self.sim.pid_file.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        write_pid_file(self.sim.pid_file, os.getpid())
        signal.signal(signal.SIGTERM, lambda *_: self.stop_flag.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_flag.set())
        self.serve()
        self.log(f"simulated Alcatel IP Touch 4018 (pid {os.getpid()}) for "
                 f"{self.settings['pbx_host']}:{self.settings['pbx_port']}")
        next_reg = 0.0
        try:
            while not self.stop_flag.is_set():
                if time.monotonic() >= next_reg and (self.phone is None or not self.phone.registered
                                                     or not self.phone.is_alive()):
                    self.ensure_registered()
                    next_reg = time.monotonic() + 2.0
                while not self.requests.empty():
                    req, box = self.requests.get()
                    box.put(self.run_request(req))
                if self.phone is not None:
                    self.step()
                time.sleep(0.02)
        finally:
            self.log("stopping")
            with contextlib.suppress(Exception):
                self.server.shutdown()
            if self.phone is not None:
                with contextlib.suppress(Exception):
                    self.phone.close()
            for p in (self.sim.socket_path, self.sim.pid_file):
                with contextlib.suppress(OSError):
                    recorded = read_pid_file(p)
                    if p != self.sim.pid_file or (recorded is not None and recorded.pid == os.getpid()):
                        p.unlink()
        return 0


def _config_from_settings(settings: AlcatelSettings) -> LabConfig:
    base = LabConfig()
    acc = Account(**settings["account"])
    accounts = tuple(acc if a.name == acc.name else a for a in base.accounts)
    if acc.name not in {a.name for a in accounts}:
        accounts = accounts + (acc,)
    return base.with_overrides(
        pbx=replace(base.pbx, host=settings["pbx_host"], port=int(settings["pbx_port"])),
        accounts=accounts,
        alcatel=replace(base.alcatel, ring_s=float(settings["ring_s"]), max_call_s=float(settings["max_call_s"]),
                        signal_hz=float(settings["signal_hz"]), morse=str(settings["morse"]),
                        tx_loss_pct=int(settings["tx_loss_pct"]), rtp_port=int(settings["rtp_port"])),
    )


def _settings_from_config(config: LabConfig) -> AlcatelSettings:
    acc = config.account("alcatel")
    a = config.alcatel
    return AlcatelSettings(pbx_host=config.pbx.host, pbx_port=config.pbx.port, account=asdict(acc),
                           ring_s=a.ring_s, max_call_s=a.max_call_s, signal_hz=a.signal_hz, morse=a.morse,
                           tx_loss_pct=a.tx_loss_pct, rtp_port=a.rtp_port)


def main(argv: list[str] | None = None) -> int:
    """``python -m voiplab.devices.alcatel run [--config lab.toml] [--lab-dir DIR] [--foreground]``."""
    parser = argparse.ArgumentParser(prog="python -m voiplab.devices.alcatel",
                                     description="the simulated Alcatel IP Touch 4018 of the local lab")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the simulated Alcatel (detached by SimulatedAlcatel.start())")
    run.add_argument("--config", help="lab.toml (default: $VOIPLAB_CONFIG or the report's lab)")
    run.add_argument("--settings", help="JSON settings written by SimulatedAlcatel.start() (wins over --config)")
    run.add_argument("--lab-dir", help="lab directory (pid file, control socket, recordings)")
    run.add_argument("--foreground", action="store_true", help="debugging: stay attached and log to the terminal")
    for name in ("status", "stop"):
        p = sub.add_parser(name, help=f"{name} the running simulated Alcatel")
        p.add_argument("--lab-dir")
    call = sub.add_parser("call", help="make the simulated Alcatel dial a number")
    call.add_argument("number")
    call.add_argument("--lab-dir")
    args = parser.parse_args(argv)
    lab_dir = Path(args.lab_dir) if args.lab_dir else _default_lab_dir()
    if args.command != "run":
        sim = SimulatedAlcatel(lab_dir=lab_dir)
        try:
            if args.command == "status":
                print(json.dumps(sim.status(), indent=2))
            elif args.command == "stop":
                print("stopped" if sim.stop() else "not running")
            else:
                print(json.dumps(sim.call(args.number), indent=2))
        except VoipLabError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if args.settings:
        settings = json.loads(Path(args.settings).read_text(encoding="utf-8"))
    else:
        settings = _settings_from_config(load_config(args.config))
    if args.foreground:
        existing = SimulatedAlcatel(_config_from_settings(settings), lab_dir)
        if existing.is_running():
            print(f"error: the simulated Alcatel already runs (pid {existing.pid()}): stop it first", file=sys.stderr)
            return 1
    return _Daemon(settings, lab_dir, args.foreground).run()


if __name__ == "__main__":
    sys.exit(main())
