"""The phone agent: one child process per softphone, running pjsua2.

pjsua2 allows one library instance per process and aborts the whole process on
ordinary mistakes (see ``design.md``, "The phone"), so a Jupyter kernel never
imports it: :class:`voiplab.devices.phone.Phone` starts this module as
``python -m voiplab.devices._agent`` in its own session and talks to it in JSON lines.

The protocol (JSON lines: requests in, replies and events out) is defined once in
:mod:`voiplab.devices.wire`; this module only decodes requests and encodes replies and
events with it. The first command is :class:`~voiplab.devices.wire.Init` (account,
addresses, audio, recording directory).

Rules that keep the process alive (measured facts, ``design.md``):

* pjsua2 runs on the main thread only (``threadCnt = 0``, ``libHandleEvents(10)``);
  a reader thread only queues commands. ``mainThreadOnly`` stays off because with
  it pjsua2 2.15.1 never delivers ``onDtmfDigit`` (measured); the only callbacks
  that run on pjsua's media thread (DTMF digits, log lines) just write an event;
* the protocol goes to a duplicate of fd 1 and fd 1 then points at stderr, so
  pjlib's C-level printing cannot corrupt it;
* every Call/Account/player/recorder stays referenced until it is finished and
  is freed on the main thread, before ``libDestroy``;
* no Python exception may escape a pjsua2 callback (it would abort the process);
* stdin EOF (the kernel is gone), SIGTERM, the ``shutdown`` command or a new
  parent pid: hang up, unregister, ``libDestroy``, exit. SIGINT is ignored.

Taught in notebook 03 (register) and 06 (calling the Alcatel): students never
import this module, they see its work through ``Phone.trace()``.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import errno
import importlib
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Literal, TextIO

import pjsua2 as pj

from ..errors import CallError, PhoneError, ProtocolError, RegistrationError
from . import wire
from .wire import AgentConfig, CallState, CallStats

#: how long the main loop lets pjsua2 wait for network events, in ms
POLL_MS = 10
#: seconds between two snapshots of the RTP/RTCP statistics of a live call
STATS_POLL_S = 1.0
#: seconds the agent gives calls to end and the REGISTER(expires=0) to be answered on exit
SHUTDOWN_GRACE_S = 1.5
PR_SET_PDEATHSIG = 1
#: RTP payload type our phones use for RFC 4733 telephone-events. pjsua's built-in
#: 120 breaks DTMF after Asterisk's direct-media re-INVITEs: Asterisk tells each phone
#: the PT that phone itself negotiated, so the sender uses 120 while the receiver
#: expects Asterisk's 101 and drops the events (measured in the local lab).
TELEPHONE_EVENT_PT = 101
#: pjmedia's UDP media transport option that turns "latching" off. With latching on (pjsua's
#: default, no setting for it: pjproject issue #4420) a stream that has not yet heard from the
#: address of the SDP sends its RTP to the source of the first packet it receives: after
#: Asterisk's direct-media re-INVITE, a packet Asterisk still relays pulled both phones back
#: to the PBX in about 1 call of 10 (issue 10). Phones now send where the SDP says, as the
#: desk phone does.
PJMEDIA_UDP_NO_SRC_ADDR_CHECKING = 1
#: how many ports above its first RTP port a phone may take (pjsua takes the next free even one)
RTP_PORT_RANGE = 2000

_MSG_RE = re.compile(
    r"^(?P<dir>TX|RX) (?P<size>\d+) bytes (?:Request|Response) msg (?P<what>\S+) \(\w+\) "
    r"(?:to|from) (?P<transport>\w+) (?P<remote>\S+):\r?\n(?P<raw>.*?)\r?\n--end msg--",
    re.DOTALL,
)


def pj_message(e: BaseException) -> str:
    """The readable text of a pjsua2 error (``str(pj.Error)`` is empty)."""
    if isinstance(e, pj.Error):
        try:
            return str(e.info()).strip() or f"{e.title} ({e.reason})"
        except Exception:  # noqa: BLE001
            return "pjsua2 error"
    return f"{type(e).__name__}: {e}"


def user_part(uri: str) -> str:
    """``"Raspberry Pi" <sip:5002@127.0.0.80>`` -> ``5002``."""
    m = re.search(r"sips?:([^@;>]+)@", uri)
    return m.group(1) if m else ""


class _LogWriter(pj.LogWriter):
    """Turns pjsip's message log into ``sip`` events; keeps the recent log lines."""

    def __init__(self, agent: Agent):
        super().__init__()
        self.agent = agent
        self.recent: collections.deque[str] = collections.deque(maxlen=40)

    def write(self, entry: pj.LogEntry) -> None:  # main thread, or the media thread: no pjsua2 call
        try:
            msg = entry.msg
            m = _MSG_RE.match(msg)
            if m:
                self.agent.on_sip_message(m.group("dir").lower(), m.group("transport"),
                                          m.group("remote"), m.group("raw"))
                return
            if entry.level <= 3:
                line = msg.rstrip()
                self.recent.append(line)
                print(line, file=sys.stderr)
        except Exception:  # noqa: BLE001 - never let an exception reach pjsua2
            traceback.print_exc()


class _Account(pj.Account):
    def __init__(self, agent: Agent):
        super().__init__()
        self.agent = agent

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.agent.guard(self.agent.on_reg_state, self, prm)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.agent.guard(self.agent.on_incoming_call, self, prm)


class _Call(pj.Call):
    def __init__(self, agent: Agent, acc: pj.Account, handle: int, call_id: int = pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.agent = agent
        self.handle = handle
        self.direction = "outgoing" if call_id == pj.PJSUA_INVALID_ID else "incoming"
        self.state = CallState.NULL
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.recording_path: str | None = None
        self.stats_done: CallStats = _zero_stats()  # streams already destroyed
        self.stats_live: dict[int, CallStats] = {}  # stream index -> last snapshot
        self.last_poll = 0.0
        self.remote = ""
        #: "off" once pjmedia's latching is switched off on the call's RTP transport, else why not
        self.rtp_latching = "not set (no RTP transport yet)"

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self.agent.guard(self.agent.on_call_state, self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.agent.guard(self.agent.on_call_media, self)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # media thread: no pjsua2 call here
        self.agent.guard(self.agent.emit, wire.DtmfEvent(self.handle, str(prm.digit), time.time()))

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:
        def rewrite() -> None:
            new = telephone_event_pt(prm.sdp.wholeSdp, TELEPHONE_EVENT_PT)
            if new is not None:
                prm.sdp.wholeSdp = new

        self.agent.guard(rewrite)

    def onCreateMediaTransport(self, prm: pj.OnCreateMediaTransportParam) -> None:
        # main thread, when pjsua creates the call's RTP transport (before any RTP flows)
        self.agent.guard(self.agent.on_media_transport, self, prm)

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:
        self.agent.guard(self.agent.on_stream_destroyed, self, prm.streamIdx)


def _zero_stats() -> CallStats:
    return {"tx_packets": 0, "rx_packets": 0, "tx_bytes": 0, "rx_bytes": 0, "rx_lost": 0,
            "tx_lost": 0, "rx_dup": 0, "rx_reorder": 0, "rx_discard": 0,
            "jitter_ms": 0.0, "max_jitter_ms": 0.0, "rtt_ms": 0.0, "streams": 0}


class Agent:
    """The pjsua2 side of one phone (lives on the main thread of the agent process)."""

    def __init__(self, out: TextIO):
        self.out = out
        self.out_lock = threading.Lock()
        self.commands: queue.Queue[wire.Request | None] = queue.Queue()
        self.stopping = False
        self.shutdown_req: int | None = None
        self.ep: pj.Endpoint | None = None
        self.writer: _LogWriter | None = None
        self.acc: _Account | None = None
        self.registered = False
        self.reg_wait: tuple[int, float, str] | None = None  # (request id, deadline, "register"|"unregister")
        self.calls: dict[int, _Call] = {}
        self.finished: list[int] = []  # handles of DISCONNECTED calls, freed after the poll
        self.graveyard: list[object] = []  # pjsua2 objects to drop on the main thread
        self.to_ring: list[int] = []  # incoming calls that still need their 180 Ringing
        self.next_handle = 1
        self.cfg: AgentConfig | None = None
        self.tid = -1  # the pjsua2 transport id, once init() created it
        self.local_sip = ""
        self.parent = os.getppid()

    # -- output ------------------------------------------------------------
    def write(self, line: str) -> None:
        """Send one protocol line to the proxy (any thread)."""
        with self.out_lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError, OSError):
                self.stopping = True

    def emit(self, event: wire.Event) -> None:
        self.write(wire.encode_event(event))

    def reply(self, req_id: int, result: object = None) -> None:
        self.write(wire.encode_reply(req_id, result))

    def fail(self, req_id: int, failure: wire.AgentFailure) -> None:
        self.write(wire.encode_failure(req_id, failure))

    def guard(self, fn: Callable[..., object], *args: object) -> None:
        """Run a callback body; an exception is logged, never raised into pjsua2."""
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            traceback.print_exc()

    # -- start ---------------------------------------------------------------
    def init(self, cfg: AgentConfig) -> wire.InitResult:
        self.cfg = cfg
        address, port = cfg.address, cfg.port
        # pjsua2 reports a taken port as a generic error: check first, name the address;
        # wait a little, the previous Phone on this address may still be hanging up
        tls = cfg.transport == "tls"
        kind, proto = (socket.SOCK_STREAM, "TCP") if tls else (socket.SOCK_DGRAM, "UDP")
        deadline = time.monotonic() + cfg.bind_wait
        while True:
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind((address, port))
                    break
                except OSError as e:
                    if time.monotonic() < deadline and e.errno == errno.EADDRINUSE:
                        time.sleep(0.05)
                        continue
                    raise PhoneError(
                        f"the phone's SIP address {address}:{port} ({proto}) is already in use "
                        f"({e.strerror}): close the other Phone on it (phone.close()) or pass another "
                        "address=/port=") from None
        ep = pj.Endpoint()
        ep.libCreate()
        self.ep = ep
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        # mainThreadOnly=True loses onDtmfDigit in pjsua2 2.15.1 (measured): callbacks
        # from the media thread (DTMF, log lines) are allowed, and they only queue/emit
        ep_cfg.uaConfig.mainThreadOnly = False
        ep_cfg.uaConfig.userAgent = cfg.user_agent
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        self.writer = _LogWriter(self)
        ep_cfg.logConfig.writer = self.writer
        ep_cfg.logConfig.level = 4  # msgLogging needs level >= 4 and consoleLevel >= 4
        ep_cfg.logConfig.consoleLevel = 4
        ep_cfg.logConfig.msgLogging = True
        ep_cfg.logConfig.decor = 0
        ep_cfg.medConfig.clockRate = 8000
        ep_cfg.medConfig.sndClockRate = 8000
        ep_cfg.medConfig.noVad = True  # send RTP even for silence
        ep_cfg.medConfig.ecTailLen = 0
        # pjmedia's loss simulation: each RTP packet is dropped before the socket with this
        # probability (about (pct+1) %), so the receiver sees gaps in the sequence numbers
        ep_cfg.medConfig.txDropPct = cfg.tx_loss_pct
        ep.libInit(ep_cfg)
        tcfg = pj.TransportConfig()
        tcfg.boundAddress = address
        tcfg.publicAddress = address
        tcfg.port = port
        if tls:
            # SIP over TLS (the report's future work): the PBX certificate must chain to the lab's CA
            tcfg.tlsConfig.CaListFile = cfg.ca_file or ""
            tcfg.tlsConfig.verifyServer = True
            tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        try:
            tid = ep.transportCreate(pj.PJSIP_TRANSPORT_TLS if tls else pj.PJSIP_TRANSPORT_UDP, tcfg)
        except pj.Error as e:
            raise PhoneError(f"the phone's SIP address {address}:{port} could not be bound "
                             f"({pj_message(e)}): pass another address=/port=") from None
        self.tid = tid
        info = ep.transportGetInfo(tid)
        self.local_sip = str(info.localName)
        ep.libStart()
        ep.audDevManager().setNullDev()
        wanted = [c.lower() for c in cfg.codecs]
        for c in ep.codecEnum2():
            name = c.codecId.split("/")[0].lower()
            prio = 255 - wanted.index(name) if name in wanted else 0
            ep.codecSetPriority(c.codecId, prio)
        return wire.InitResult(self.local_sip, os.getpid())

    # -- SIP trace -----------------------------------------------------------
    def on_sip_message(self, direction: str, transport: str, remote: str, raw: str) -> None:
        tx_or_rx: Literal["tx", "rx"] = "tx" if direction == "tx" else "rx"
        self.emit(wire.SipEvent({"time": time.time(), "direction": tx_or_rx, "local": self.local_sip,
                                 "remote": remote, "transport": transport, "raw": raw}))

    # -- registration ----------------------------------------------------------
    @property
    def config(self) -> AgentConfig:
        """The configuration of :meth:`init` (a command before it is refused)."""
        if self.cfg is None:
            raise PhoneError("the phone agent is not initialised: the first command must be init")
        return self.cfg

    def account_config(self) -> pj.AccountConfig:
        c = self.config
        acc = c.account
        ac = pj.AccountConfig()
        ac.idUri = f'"{acc.display_name}" <sip:{acc.name}@{c.pbx_host}>'
        ac.regConfig.registrarUri = f"sip:{c.pbx_host}:{c.pbx_port}{self.uri_params}"
        ac.regConfig.retryIntervalSec = 0  # a failed REGISTER is reported, not retried
        ac.regConfig.timeoutSec = c.expires
        ac.regConfig.registerOnAdd = True
        ac.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", acc.name, 0, acc.password))
        ac.sipConfig.transportId = self.tid
        ac.natConfig.sipOutboundUse = 0
        ac.natConfig.contactRewriteUse = 0
        ac.natConfig.viaRewriteUse = 0
        ac.natConfig.sdpNatRewriteUse = 0
        ac.mediaConfig.transportConfig.boundAddress = c.address
        ac.mediaConfig.transportConfig.publicAddress = c.address
        ac.mediaConfig.transportConfig.port = c.rtp_port
        ac.mediaConfig.transportConfig.portRange = RTP_PORT_RANGE
        if c.srtp:
            # RTP/SAVP with SDES keys (a=crypto) in the SDP: no plain RTP is accepted
            ac.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            ac.mediaConfig.srtpSecureSignaling = 1 if c.transport == "tls" else 0
        return ac

    @property
    def uri_params(self) -> str:
        """``;transport=tls`` when the phone talks TLS to the PBX (sip: URI, TLS on this hop)."""
        return ";transport=tls" if self.config.transport == "tls" else ""

    def cmd_register(self, req_id: int, args: wire.Register) -> None:
        if self.reg_wait is not None:
            raise RegistrationError("a REGISTER is already in progress: wait for it to end")
        if self.acc is None:
            acc = _Account(self)
            try:
                acc.create(self.account_config())
            except pj.Error as e:
                self.graveyard.append(acc)
                raise RegistrationError(f"the account could not be created ({pj_message(e)}): "
                                        "check the lab config") from None
            self.acc = acc
        else:
            self.acc.setRegistration(True)
        self.reg_wait = (req_id, time.monotonic() + args.reg_timeout, "register")

    def cmd_unregister(self, req_id: int, args: wire.Unregister) -> None:
        if self.acc is None or not self.registered:
            self.reply(req_id, wire.UnregisterResult(None, False))
            return
        self.acc.setRegistration(False)
        self.reg_wait = (req_id, time.monotonic() + args.reg_timeout, "unregister")

    def on_reg_state(self, acc: _Account, prm: pj.OnRegStateParam) -> None:
        code = int(prm.code)
        expires = int(prm.expiration)
        self.registered = 200 <= code < 300 and expires > 0
        self.emit(wire.RegEvent(code, str(prm.reason), expires, self.registered, time.time()))
        if self.reg_wait is None:
            return
        req_id, _deadline, what = self.reg_wait
        self.reg_wait = None
        if what == "register" and self.registered:
            self.reply(req_id, wire.RegisterResult(code, str(prm.reason), expires,
                                                   f"sip:{self.config.account.name}@{self.local_sip}"))
        elif what == "unregister":
            self.reply(req_id, wire.UnregisterResult(code, self.registered, str(prm.reason)))
        else:
            self.drop_account()
            # no message: the proxy words it from the status (it knows the account and the PBX)
            self.fail(req_id, wire.AgentFailure(wire.ErrorKind.REGISTRATION, "", code, str(prm.reason)))

    def check_reg_timeout(self) -> None:
        if self.reg_wait is None or time.monotonic() < self.reg_wait[1]:
            return
        req_id, _deadline, what = self.reg_wait
        self.reg_wait = None
        if what == "register":
            self.drop_account()
        self.fail(req_id, wire.AgentFailure(wire.ErrorKind.REGISTRATION, "", None, "timeout"))

    def drop_account(self) -> None:
        if self.acc is not None:
            with contextlib.suppress(pj.Error):
                self.acc.shutdown()
            self.graveyard.append(self.acc)
            self.acc = None
        self.registered = False

    # -- calls ---------------------------------------------------------------
    def call_of(self, handle: int) -> _Call:
        call = self.calls.get(handle)
        if call is None:
            raise CallError("the call is over: start a new one")
        return call

    def new_handle(self) -> int:
        h = self.next_handle
        self.next_handle += 1
        return h

    def cmd_call(self, req_id: int, args: wire.Dial) -> None:
        if self.acc is None or not self.registered:
            raise PhoneError("the phone is not registered: call phone.register() first")
        number = args.number
        c = self.config
        uri = number if number.startswith("sip:") else f"sip:{number}@{c.pbx_host}:{c.pbx_port}{self.uri_params}"
        handle = self.new_handle()
        call = _Call(self, self.acc, handle)
        self.calls[handle] = call
        call.remote = uri
        prm = pj.CallOpParam(True)
        try:
            call.makeCall(uri, prm)
        except pj.Error as e:
            self.calls.pop(handle, None)
            self.graveyard.append(call)
            raise CallError(f"the call to {number} could not be started ({pj_message(e)}): "
                            "check the number") from None
        self.reply(req_id, wire.CallStarted(handle, uri))

    def on_incoming_call(self, acc: _Account, prm: pj.OnIncomingCallParam) -> None:
        # the Call must be created inside this upcall (else pjsua2 hangs up at once);
        # the 180 Ringing and the event are sent from the main loop
        handle = self.new_handle()
        call = _Call(self, acc, handle, prm.callId)
        call.state = CallState.INCOMING
        self.calls[handle] = call
        self.to_ring.append(handle)

    def ring_incoming(self) -> None:
        while self.to_ring:
            handle = self.to_ring.pop(0)
            call = self.calls.get(handle)
            if call is None:
                continue
            with contextlib.suppress(pj.Error):
                ci = call.getInfo()
                call.remote = str(ci.remoteUri)
                self.emit(wire.IncomingEvent(handle, call.remote, user_part(call.remote), str(ci.callIdString),
                                             time.time()))
                ring = pj.CallOpParam()
                ring.statusCode = 180
                call.answer(ring)

    def on_call_state(self, call: _Call) -> None:
        ci = call.getInfo()
        state = wire.call_state_of(int(ci.state))
        call.state = state
        self.emit(wire.CallStateEvent(call.handle, state, int(ci.lastStatusCode), str(ci.lastReason),
                                      str(ci.remoteUri), str(ci.callIdString), time.time()))
        if state is CallState.DISCONNECTED:
            self.finished.append(call.handle)

    def on_call_media(self, call: _Call) -> None:
        ci = call.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            am = call.getAudioMedia(mi.index)
            audio = self.config.audio
            if audio and call.player is None:
                player = pj.AudioMediaPlayer()
                try:
                    player.createPlayer(audio, 0)  # 0: loop
                    call.player = player
                except pj.Error as e:
                    self.graveyard.append(player)
                    print(f"player: {pj_message(e)}", file=sys.stderr)
            if call.player is not None:
                call.player.startTransmit(am)
            record_dir = self.config.record_dir
            if record_dir and call.recorder is None:
                who = re.sub(r"[^0-9A-Za-z_-]", "", user_part(call.remote)) or "remote"
                path = str(Path(record_dir) / f"call-{call.handle:03d}-{call.direction}-{who}.wav")
                rec = pj.AudioMediaRecorder()
                try:
                    rec.createRecorder(path)
                    call.recorder = rec
                    call.recording_path = path
                except pj.Error as e:
                    self.graveyard.append(rec)
                    print(f"recorder: {pj_message(e)}", file=sys.stderr)
            if call.recorder is not None:
                am.startTransmit(call.recorder)
            event = wire.MediaEvent(call.handle, int(mi.index), call.recording_path, time.time())
            with contextlib.suppress(pj.Error):
                si = call.getStreamInfo(mi.index)
                event = dataclasses.replace(event, codec=str(si.codecName), clock_rate=int(si.codecClockRate),
                                            remote_rtp=str(si.remoteRtpAddress))
            self.emit(event)

    def stream_snapshot(self, call: _Call, idx: int) -> CallStats | None:
        try:
            st = call.getStreamStat(idx)
        except pj.Error:
            return None
        r = st.rtcp
        snap: CallStats = {"tx_packets": int(r.txStat.pkt), "rx_packets": int(r.rxStat.pkt),
                "tx_bytes": int(r.txStat.bytes), "rx_bytes": int(r.rxStat.bytes),
                "rx_lost": int(r.rxStat.loss), "tx_lost": int(r.txStat.loss), "rx_dup": int(r.rxStat.dup),
                "rx_reorder": int(r.rxStat.reorder), "rx_discard": int(r.rxStat.discard),
                "jitter_ms": r.rxStat.jitterUsec.mean / 1000.0 if r.rxStat.jitterUsec.n else 0.0,
                "max_jitter_ms": r.rxStat.jitterUsec.max / 1000.0 if r.rxStat.jitterUsec.n else 0.0,
                "rtt_ms": r.rttUsec.mean / 1000.0 if r.rttUsec.n else 0.0, "streams": 1}
        with contextlib.suppress(pj.Error):
            si = call.getStreamInfo(idx)
            snap["codec"] = str(si.codecName)
            snap["remote_rtp"] = str(si.remoteRtpAddress)
        call.stats_live[idx] = snap
        return snap

    def on_media_transport(self, call: _Call, prm: pj.OnCreateMediaTransportParam) -> None:
        """RTP goes where the SDP says (no latching): direct media stays direct."""
        why = disable_rtp_latching(int(prm.mediaTp) if prm.mediaTp is not None else 0)
        call.rtp_latching = "off" if why is None else f"left on ({why})"
        if why is not None:
            print(f"call {call.handle}: RTP latching left on ({why})", file=sys.stderr)

    def on_stream_destroyed(self, call: _Call, idx: int) -> None:
        snap = self.stream_snapshot(call, idx) or call.stats_live.get(idx)
        call.stats_live.pop(idx, None)
        if snap:
            call.stats_done = _merge(call.stats_done, snap)

    def call_stats(self, call: _Call) -> CallStats:
        if call.state not in (CallState.DISCONNECTED, CallState.NULL):
            with contextlib.suppress(pj.Error):
                ci = call.getInfo()  # keep it: ci.media is a view into this object
                for mi in ci.media:
                    if mi.type == pj.PJMEDIA_TYPE_AUDIO:
                        self.stream_snapshot(call, int(mi.index))
        total = call.stats_done.copy()
        for snap in call.stats_live.values():
            total = _merge(total, snap)
        total["rtp_latching"] = call.rtp_latching
        return total

    def free_finished(self) -> None:
        while self.finished:
            handle = self.finished.pop()
            call = self.calls.pop(handle, None)
            if call is None:
                continue
            stats = self.call_stats(call)
            for obj in (call.player, call.recorder):
                if obj is not None:
                    self.graveyard.append(obj)
            call.player = call.recorder = None
            path = call.recording_path
            self.graveyard.clear()  # drops the recorder: the WAV header is written now
            destroy_call(call)
            self.emit(wire.CallFreedEvent(handle, path, stats, time.time()))

    def cmd_answer(self, req_id: int, args: wire.Answer) -> None:
        call = self.call_of(args.call)
        prm = pj.CallOpParam()
        prm.statusCode = args.code
        call.answer(prm)
        self.reply(req_id)

    def cmd_hangup(self, req_id: int, args: wire.Hangup) -> None:
        call = self.calls.get(args.call)
        if call is not None and call.state is not CallState.DISCONNECTED:
            prm = pj.CallOpParam()
            if args.code is not None:
                prm.statusCode = args.code
            call.hangup(prm)
        self.reply(req_id)

    def cmd_dtmf(self, req_id: int, args: wire.SendDtmf) -> None:
        call = self.call_of(args.call)
        call.dialDtmf(args.digits)
        self.reply(req_id)

    def cmd_stats(self, req_id: int, args: wire.GetStats) -> None:
        self.reply(req_id, self.call_stats(self.call_of(args.call)))

    # -- loop ----------------------------------------------------------------
    def handle(self, request: wire.Request) -> None:
        req_id, command = request.id, request.command
        try:
            match command:
                case wire.Init():
                    self.reply(req_id, self.init(command.config))
                case wire.Ping():
                    self.reply(req_id, wire.PingResult(os.getpid(), self.registered, len(self.calls)))
                case wire.Shutdown():
                    self.stopping = True
                    self.shutdown_req = req_id
                case wire.Register():
                    self.cmd_register(req_id, command)
                case wire.Unregister():
                    self.cmd_unregister(req_id, command)
                case wire.Dial():
                    self.cmd_call(req_id, command)
                case wire.Answer():
                    self.cmd_answer(req_id, command)
                case wire.Hangup():
                    self.cmd_hangup(req_id, command)
                case wire.SendDtmf():
                    self.cmd_dtmf(req_id, command)
                case wire.GetStats():
                    self.cmd_stats(req_id, command)
                case _:
                    raise PhoneError(f"the command {command.NAME!r} is not handled by this agent: update voiplab")
        except PhoneError as e:
            self.fail(req_id, wire.failure_of(e))
        except pj.Error as e:
            self.fail(req_id, wire.failure_of(PhoneError(f"pjsua2 refused {command.NAME} ({pj_message(e)})")))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.fail(req_id, wire.failure_of(PhoneError(f"the phone agent failed on {command.NAME}: {e}")))

    def run(self) -> None:
        self.shutdown_req = None
        while not self.stopping:
            try:
                while True:
                    msg = self.commands.get_nowait()
                    if msg is None:
                        self.stopping = True
                        break
                    self.handle(msg)
                    if self.stopping:
                        break
            except queue.Empty:
                pass
            if self.stopping:
                break
            if self.ep is None:
                time.sleep(POLL_MS / 1000)
            else:
                self.ep.libHandleEvents(POLL_MS)
                self.ring_incoming()
                self.free_finished()
                self.graveyard.clear()
                self.check_reg_timeout()
                now = time.monotonic()
                for call in list(self.calls.values()):
                    if call.state is CallState.CONFIRMED and now - call.last_poll > STATS_POLL_S:
                        call.last_poll = now
                        self.call_stats(call)
            if os.getppid() != self.parent:
                self.stopping = True
        self.shutdown()

    def shutdown(self) -> None:
        ep = self.ep
        if ep is not None:
            with contextlib.suppress(pj.Error):
                ep.hangupAllCalls()
            deadline = time.monotonic() + SHUTDOWN_GRACE_S
            while self.calls and time.monotonic() < deadline:
                ep.libHandleEvents(POLL_MS)
                self.free_finished()
            if self.acc is not None and self.registered:
                with contextlib.suppress(pj.Error):
                    self.acc.setRegistration(False)
                deadline = time.monotonic() + SHUTDOWN_GRACE_S
                while self.registered and time.monotonic() < deadline:
                    ep.libHandleEvents(POLL_MS)
            self.drop_account()
            for call in self.calls.values():
                self.graveyard.extend([call.player, call.recorder])
            self.graveyard.clear()
            for call in self.calls.values():
                destroy_call(call)
            self.calls.clear()
            ep.libHandleEvents(POLL_MS)
            with contextlib.suppress(pj.Error):
                ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)  # we already hung up and unregistered
        if self.shutdown_req is not None:
            self.reply(self.shutdown_req)
        self.emit(wire.ByeEvent(time.time()))


def disable_rtp_latching(tp: int) -> str | None:
    """Set PJMEDIA_UDP_NO_SRC_ADDR_CHECKING on the pjmedia UDP transport at address ``tp``.

    The phone then sends RTP to the address of the last SDP offer/answer, like a desk
    phone: after Asterisk's direct-media re-INVITE, a packet that Asterisk still relays
    cannot pull the stream back to the PBX. Returns None when done, else why not.

    pjsua-lib has no setting for this, so the field is written in place, in the layout
    of pjproject 2.15 (``struct transport_udp``: a ``pjmedia_transport`` base of name[32],
    type, op, user_data, grp_lock; then pool, options), checked first: the transport is
    of type UDP and its ``pool`` is the pool its name was copied from. pjsua's SRTP
    adapter is looked through (``pjmedia_transport_srtp_get_member``); anything else
    (an ICE transport, another pjproject layout) is left untouched.
    """
    if not tp:
        return "no transport"
    name = ctypes.string_at(tp, 32).split(b"\0", 1)[0]
    if name.startswith(b"srtp"):
        # pjsua wraps every UDP transport in an SRTP adapter (inactive unless SRTP is used)
        lib = ctypes.CDLL(importlib.import_module("pjsua2._pjsua2").__file__)
        get_member = lib.pjmedia_transport_srtp_get_member
        get_member.restype, get_member.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        tp = get_member(tp) or 0
        if not tp:
            return "SRTP adapter without a member transport"
        name = ctypes.string_at(tp, 32).split(b"\0", 1)[0]
    ttype = ctypes.c_int.from_address(tp + 32).value
    if ttype != 0 or not name.startswith(b"udp"):  # 0: PJMEDIA_TRANSPORT_TYPE_UDP
        return f"not a UDP transport ({name!r}, type {ttype})"
    pool = ctypes.c_void_p.from_address(tp + 64).value or 0
    if pool < 0x10000 or pool % 8 or ctypes.string_at(pool + 16, 32).split(b"\0", 1)[0] != name:
        return "unknown pjmedia transport layout"
    options = ctypes.c_uint.from_address(tp + 72)
    if options.value & ~PJMEDIA_UDP_NO_SRC_ADDR_CHECKING:
        return f"unexpected transport options {options.value:#x}"
    options.value |= PJMEDIA_UDP_NO_SRC_ADDR_CHECKING
    return None


def destroy_call(call: pj.Call) -> None:
    """Delete the C++ Call now, on the main thread, while the library is alive.

    A Call created inside ``onIncomingCall`` keeps one Python reference too many
    in the bindings; left to the garbage collector it would be deleted after
    ``libDestroy`` and abort the process (``pjsua_call_set_user_data`` assertion).
    """
    if getattr(call, "thisown", False):
        call.thisown = False
        call.__swig_destroy__(call)


def telephone_event_pt(sdp: str, pt: int) -> str | None:
    """Renumber the telephone-event payload type of an SDP to ``pt``; None if nothing to do."""
    m = re.search(r"a=rtpmap:(\d+) telephone-event/8000", sdp)
    if not m or int(m.group(1)) == pt:
        return None
    old = m.group(1)
    lines = sdp.split("\r\n")
    audio = next((ln for ln in lines if ln.startswith("m=audio ")), "")
    if str(pt) in audio.split()[3:]:
        return None
    out = []
    for ln in lines:
        if ln.startswith("m=audio "):
            parts = ln.split(" ")
            ln = " ".join(parts[:3] + [str(pt) if p == old else p for p in parts[3:]])
        elif ln.startswith((f"a=rtpmap:{old} ", f"a=fmtp:{old} ")):
            ln = ln.replace(f":{old} ", f":{pt} ", 1)
        out.append(ln)
    return "\r\n".join(out)


#: the statistics that add up over the streams of a call
_SUMMED_STATS = ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes", "rx_lost", "tx_lost", "rx_dup",
                 "rx_reorder", "rx_discard", "streams")
#: the statistics the last stream gives (when it has them)
_LAST_STATS = ("jitter_ms", "rtt_ms", "codec", "remote_rtp")


def _merge(a: CallStats, b: CallStats) -> CallStats:
    # TypedDict keys chosen at run time: mypy checks literal keys only, hence the dict view
    out: dict[str, object] = dict(a)
    for k in _SUMMED_STATS:
        out[k] = int(a.get(k, 0)) + int(b.get(k, 0))  # type: ignore[call-overload]
    out["max_jitter_ms"] = max(a.get("max_jitter_ms", 0.0), b.get("max_jitter_ms", 0.0))
    for k in _LAST_STATS:
        if k in b and (b.get(k) or k not in out):
            out[k] = b[k]  # type: ignore[literal-required]
    return out  # type: ignore[return-value]


def _reader(agent: Agent, stream: Iterable[str]) -> None:
    """Reader thread: decode request lines and queue them; never touches pjsua2."""
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            agent.commands.put(wire.decode_request(line))
        except ProtocolError as e:
            print(f"agent: refused a request line: {e}", file=sys.stderr)
            if e.request_id is not None:  # answer it, so the proxy does not wait for a timeout
                agent.fail(e.request_id, wire.failure_of(e))
    agent.commands.put(None)  # EOF: the proxy (kernel) is gone


def main() -> int:
    """Entry point of ``python -m voiplab.devices._agent``."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # pjlib's C printing goes to stderr from now on
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.environ.get("VOIPLAB_AGENT_PDEATHSIG") == "1":
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    agent = Agent(out)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        agent.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    threading.Thread(target=_reader, args=(agent, sys.stdin), name="agent-reader", daemon=True).start()
    try:
        agent.run()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            out.flush()
        sys.stderr.flush()
    os._exit(0)  # no Python finalisers on pjsua2 objects after libDestroy


if __name__ == "__main__":
    main()
