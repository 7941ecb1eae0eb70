"""Render the Asterisk configuration of the lab (pure: text in, text out).

Every file is commented for students: notebook 02 prints ``pjsip.conf`` and
``extensions.conf`` and walks through them. The values come from the lab
config, whose defaults are the report's lab (``LAB-FACTS.md``, chapter 2).

Taught in notebook 02 (the Asterisk PBX).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import LabConfig
from ..errors import ConfigError

__all__ = [
    "COPY_NOTE",
    "HINT_CONTEXT",
    "MESSAGE_CONTEXT",
    "MODULES",
    "MOH_EXTENSION",
    "PRIVATE_NETWORKS",
    "RENDERED_NOTE",
    "WEBRTC_CONTEXT",
    "WEBRTC_MODULES",
    "AsteriskLayout",
    "keys_dir",
    "render_all",
    "render_http_conf",
    "student_copy",
]

#: Modules loaded by the lab (``autoload=no``: an explicit, readable list).
#: ``res_pjsip_exten_state`` is left out: in Debian sid's Asterisk 22 it fails to
#: load (undefined symbol); ``chan_pjsip`` needs ``res_pjsip_pubsub``.
MODULES: tuple[tuple[str, str], ...] = (
    ("res_timing_timerfd.so", "timing source for RTP and the bridges"),
    ("res_sorcery_config.so", "reads pjsip.conf objects"),
    ("res_sorcery_memory.so", "keeps registrations (contacts) in memory"),
    ("res_sorcery_astdb.so", "stores contacts in Asterisk's database"),
    ("res_pjproject.so", "the pjproject SIP stack inside Asterisk"),
    ("res_pjsip.so", "PJSIP core: transports, endpoints, auths, aors"),
    ("res_pjsip_session.so", "INVITE sessions (calls)"),
    ("res_pjsip_pubsub.so", "SUBSCRIBE/NOTIFY framework (chan_pjsip needs it)"),
    ("res_pjsip_authenticator_digest.so", "the digest challenge: 401 + WWW-Authenticate"),
    ("res_pjsip_endpoint_identifier_user.so", "finds the endpoint from the From user"),
    ("res_pjsip_endpoint_identifier_ip.so", "finds the endpoint from the source address"),
    ("res_pjsip_registrar.so", "accepts REGISTER and stores the contact"),
    ("res_pjsip_sdp_rtp.so", "SDP offer/answer for audio (RTP)"),
    ("res_pjsip_caller_id.so", "caller ID from the From header"),
    ("res_pjsip_dtmf_info.so", "DTMF by SIP INFO"),
    ("res_pjsip_rfc3326.so", "the Reason header on hang-up"),
    ("res_pjsip_nat.so", "rport/received handling"),
    ("res_pjsip_logger.so", "'pjsip set logger on' prints every SIP message"),
    ("res_pjsip_messaging.so", "SIP MESSAGE"),
    ("chan_pjsip.so", "the PJSIP channel driver: PJSIP/<endpoint> in Dial()"),
    ("func_pjsip_endpoint.so", "PJSIP_ENDPOINT() dial plan function"),
    ("res_rtp_asterisk.so", "the RTP/RTCP stack (rtp.conf)"),
    ("bridge_simple.so", "bridges two channels"),
    ("bridge_native_rtp.so", "direct media: re-INVITE both phones so RTP goes phone to phone"),
    ("bridge_builtin_features.so", "in-call features"),
    ("bridge_holding.so", "holding bridges"),
    ("res_musiconhold.so", "music on hold"),
    ("pbx_config.so", "reads extensions.conf (the dial plan)"),
    ("app_dial.so", "Dial()"),
    ("app_playback.so", "Playback()"),
    ("app_echo.so", "Echo()"),
    ("app_milliwatt.so", "Milliwatt(): a 1004 Hz test tone"),
    ("app_senddtmf.so", "SendDTMF()"),
    ("func_callerid.so", "CALLERID() dial plan function"),
    ("func_channel.so", "CHANNEL() dial plan function"),
    ("codec_ulaw.so", "G.711 mu-law (PCMU, payload type 0)"),
    ("codec_alaw.so", "G.711 A-law (PCMA, payload type 8), the European law"),
    ("codec_a_mu.so", "direct A-law <-> mu-law translation"),
    ("format_wav.so", "WAV files"),
    ("format_pcm.so", "raw ulaw/alaw files"),
    ("format_gsm.so", "GSM files (sounds)"),
)

#: Extra modules for the WebRTC chapter (notebook 08). ``res_pjsip_exten_state`` (which
#: turns dial plan hints into presence NOTIFYs) is still left out: it fails to load in
#: sid's Asterisk 22 (undefined symbol), so the hints are rendered but SUBSCRIBEs for
#: presence are refused (489 Bad Event).
WEBRTC_MODULES: tuple[tuple[str, str], ...] = (
    ("res_crypto.so", "TLS keys"),
    ("res_http_websocket.so", "WebSocket on Asterisk's HTTP server"),
    ("res_pjsip_transport_websocket.so", "SIP over WebSocket (RFC 7118)"),
    ("res_srtp.so", "SRTP media encryption (DTLS-SRTP for WebRTC)"),
    ("codec_opus_open_source.so", "Opus codec"),
    ("res_format_attr_opus.so", "Opus SDP attributes"),
    ("res_pjsip_outbound_registration.so", "outbound registrations"),
    ("res_pjsip_acl.so", "the ACL: SIP requests only from private networks"),
    ("codec_gsm.so", "GSM <-> G.711: the music on hold files of 5000 are GSM"),
)

#: the dial plan context of the WebRTC chapter (all endpoints of a WebRTC lab)
WEBRTC_CONTEXT = "from-extensions"
#: where Asterisk sends the SIP MESSAGEs it receives (relayed to the addressee)
MESSAGE_CONTEXT = "textmessages"
#: the context holding the presence hints (SUBSCRIBE)
HINT_CONTEXT = "subscriptions"
#: the extension that plays music on hold (chapter 6)
MOH_EXTENSION = "5000"
#: ring time of Dial() in the chapter's plan
WEBRTC_DIAL_TIMEOUT_S = 30
#: the ACL of the WebRTC chapter: private networks (RFC 1918) and loopback only
PRIVATE_NETWORKS: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")
#: voiplab's manager account (its secret is random per start of the lab, never in lab.toml)
AMI_USER = "voiplab"
#: characters a manager secret may hold (``secrets.token_urlsafe``'s alphabet)
_AMI_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: the lab directory's sub-directory holding the certificates (as Asterisk sees it: <lab>/keys)
KEYS_SUBDIR = "keys"
#: the files of that directory (written by voiplab.devices.certs.make_certificates)
CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
SERVER_CERT_FILE = "server.crt"
SERVER_KEY_FILE = "server.key"
SERVER_PEM_FILE = "server.pem"


@dataclass(frozen=True)
class AsteriskLayout:
    """Where things are, as Asterisk sees them (inside its chroot when it has one)."""

    #: the lab directory (etc/, run/, log/, lib/, spool/) as Asterisk sees it
    lab_dir: str
    #: the directory of the Asterisk modules (``*.so``)
    module_dir: str
    #: Asterisk's shared data (sounds, keys): ``/usr/share/asterisk``
    data_dir: str = "/usr/share/asterisk"


#: the second line of every rendered file
RENDERED_NOTE = "; Rendered by voiplab from the lab config: edit lab.toml, not this file."
#: what that line says in the student's own copy (``lab.edit_config()``, notebook 02)
COPY_NOTE = "; Your copy (lab.edit_config()): edit it, then run lab.reload() to apply it."


def _header(title: str, lines: list[str]) -> str:
    body = "\n".join(f"; {line}" if line else ";" for line in lines)
    return f"; {title}\n{RENDERED_NOTE}\n{body}\n"


def student_copy(rendered: str) -> str:
    """The text of a rendered file as the student's copy: the same, but for the line saying who edits it.

    Taught in notebook 02 (the student writes pjsip.conf and extensions.conf).
    """
    return rendered.replace(RENDERED_NOTE, COPY_NOTE, 1)


def _direct_media_comment(direct_media: bool) -> str:
    """The comment above ``direct_media``: what this setting does (and what the other one would)."""
    if direct_media:
        return ("; direct media on (yes): once the call is up, Asterisk re-INVITEs both phones with\n"
                "; each other's address, so RTP flows phone to phone and no longer through the PBX.\n"
                "; (With no, there would be no re-INVITE and RTP would stay relayed by the PBX.)")
    return ("; direct media off (no): Asterisk sends no re-INVITE: each phone keeps sending its RTP\n"
            "; to the PBX, which relays every packet to the other phone for the whole call.\n"
            "; (With yes, Asterisk would re-INVITE both phones so that RTP flows phone to phone.)")


def render_asterisk_conf(layout: AsteriskLayout) -> str:
    d = layout.lab_dir
    return _header(
        "asterisk.conf: where Asterisk finds its files",
        ["voiplab keeps everything in its own directory, never in /etc/asterisk."],
    ) + f"""
[directories]
astetcdir => {d}/etc
astmoddir => {layout.module_dir}
astvarlibdir => {d}/lib
astdbdir => {d}/lib
astkeydir => {d}/lib
astdatadir => {layout.data_dir}
astagidir => {layout.data_dir}/agi-bin
astspooldir => {d}/spool
astrundir => {d}/run
astlogdir => {d}/log
astcachedir => {d}/cache

[options]
verbose = 3
; fully booted before voiplab says the lab is up
maxload = 0
transmit_silence = yes
documentation_language = en_US
"""


def keys_dir(layout: AsteriskLayout) -> str:
    """The certificate directory as Asterisk sees it (``/lab/keys`` in the chroot)."""
    return f"{layout.lab_dir}/{KEYS_SUBDIR}"


def render_modules_conf(cfg: LabConfig) -> str:
    modules = list(MODULES)
    if cfg.webrtc.enabled:
        loaded = {name for name, _ in modules}
        modules += [m for m in WEBRTC_MODULES if m[0] not in loaded]
    lines = "\n".join(f"load => {name:40s}; {why}" for name, why in modules)
    return _header(
        "modules.conf: the modules Asterisk loads",
        ["autoload=no: only the modules listed here are loaded, so the lab starts fast",
         "and students see exactly which pieces a SIP PBX is made of."],
    ) + f"""
[modules]
autoload = no
{lines}
"""


def render_logger_conf() -> str:
    return _header("logger.conf: Asterisk's log files (in the lab's log/ directory)", []) + """
[general]
dateformat = %F %T.%3q

[logfiles]
; 'messages' is what 'voiplab lab status' and the notebooks read when something fails
messages => notice,warning,error,verbose
"""


def render_manager_conf(cfg: LabConfig, secret: str) -> str:
    """``manager.conf``: voiplab's own manager account, on the lab's address, with a random secret.

    The secret is made anew at each start and kept in a file only the lab's owner can
    read; the account may only run CLI commands (``write = command``) and hear that
    Asterisk booted (``read = system``): on a shared machine, another user who reaches
    the port can neither log in nor, with a stolen login, originate calls.
    """
    p = cfg.pbx
    return _header(
        "manager.conf: the Asterisk Manager Interface (AMI)",
        ["voiplab runs CLI commands ('pjsip show endpoints', ...) through this TCP port,",
         "so no root and no console access is needed. Bound to the PBX address only; the",
         "secret is random for each start of the lab and readable by its owner only."],
    ) + f"""
[general]
enabled = yes
bindaddr = {p.host}
port = {p.ami_port}
displayconnects = no

[{AMI_USER}]
secret = {secret}
deny = 0.0.0.0/0.0.0.0
permit = {p.host}/{"255.255.255.255" if ":" not in p.host else "128"}
read = system
write = command
"""


def render_rtp_conf(cfg: LabConfig) -> str:
    p = cfg.pbx
    return _header(
        "rtp.conf: the UDP ports Asterisk uses for RTP",
        ["A fixed range makes captures and firewall rules predictable: RTP that goes",
         f"through the PBX uses an even port between {p.rtp_port_min} and {p.rtp_port_max},",
         "RTCP the odd port just above it."],
    ) + f"""
[general]
rtpstart = {p.rtp_port_min}
rtpend = {p.rtp_port_max}
; RTCP reports every 5 s
rtcpinterval = 5000
""" + (_RTP_ICE if cfg.webrtc.enabled else "")


_RTP_ICE = """; WebRTC (notebook 08): browsers only send media after ICE connectivity checks.
; Asterisk answers them (no STUN/TURN server: the lab is one LAN). It never
; advertises 127.0.0.0/8 host candidates: on loopback ICE succeeds with the
; browser's peer-reflexive candidate (the browser phone keeps only loopback ones).
icesupport = yes
"""


def render_sorcery_conf() -> str:
    return _header(
        "sorcery.conf: where Asterisk stores PJSIP objects",
        ["Registrations (contacts) are kept in memory only: after a restart of the lab every",
         "phone registers again, so no contact of a phone that is gone comes back from the database."],
    ) + """
[res_pjsip]
contact = memory
"""


def render_pjsip_conf(cfg: LabConfig, layout: AsteriskLayout | None = None) -> str:
    p = cfg.pbx
    dm = "yes" if p.direct_media else "no"
    allow = "\n".join(f"allow = {c}" for c in cfg.codecs)
    out = [
        _header(
            "pjsip.conf: the SIP side of the PBX (chan_pjsip)",
            [
                "Each account of the lab is three objects:",
                "  endpoint: how to talk to the phone (codecs, dial plan context, direct media)",
                "  auth:     the user name and password of the digest challenge (notebook 03)",
                "  aor:      'address of record': where the phone is, learnt from its REGISTER",
                "Templates (sections marked (!)) hold what all accounts share.",
            ],
        ),
        f"""
[global]
type = global
user_agent = Asterisk PBX (voiplab lab)

; ---------------------------------------------------------------------------
; Transport: SIP over UDP on the PBX address (the report binds 0.0.0.0:5060 on
; its LAN; the local lab binds its own loopback address so each host of the lab
; has its own address in captures).
[transport-udp]
type = transport
protocol = udp
bind = {p.host}:{p.port}
""",
    ]
    if cfg.webrtc.enabled:
        out.append(f"""
[transport-tcp]
type = transport
protocol = tcp
bind = {p.host}:{p.port}
""")
        out.append(_render_pjsip_webrtc_transports(cfg, layout or AsteriskLayout("/lab", "")))
    out.append(f"""
; ---------------------------------------------------------------------------
; Templates
[endpoint-template](!)
type = endpoint
; incoming calls from this phone run the dial plan in [{cfg.dialplan.context}] (extensions.conf)
context = {cfg.dialplan.context}
; codecs: none, then G.711 (ulaw = mu-law, PT 0; alaw = A-law, PT 8)
disallow = all
{allow}
language = {cfg.language}
{_direct_media_comment(p.direct_media)}
direct_media = {dm}
; DTMF as RTP events (RFC 4733, the report's "RFC 2833")
dtmf_mode = rfc4733
; RTP leaves from the PBX address only
media_address = {p.host}
bind_rtp_to_media_address = yes
; hang up a call when no RTP arrives for this many seconds (a phone that died)
rtp_timeout = {p.rtp_timeout}
rtp_timeout_hold = {p.rtp_timeout}

[auth-template](!)
type = auth
; the password is checked with the digest challenge: it never crosses the network
auth_type = userpass

[aor-template](!)
type = aor
; one phone per account; a new registration replaces the old contact
max_contacts = 1
remove_existing = yes
; OPTIONS ping every {p.qualify_frequency} s: a dead phone's contact is marked Unavailable
qualify_frequency = {p.qualify_frequency}
""")
    webrtc = cfg.webrtc.enabled
    if webrtc:
        out.append(_render_pjsip_webrtc_templates(cfg, layout or AsteriskLayout("/lab", "")))
    for acc in cfg.accounts:
        templates = "endpoint-template"
        extra = ""
        if webrtc:
            templates += ",chapter6-template," + ("webrtc-template" if acc.webrtc else "sdes-template")
            extra = ("; a browser (JsSIP) over the secure WebSocket: DTLS-SRTP, ICE, AVPF, rtcp-mux\n"
                     if acc.webrtc else
                     "; a SIP phone (UDP, TCP or TLS): SRTP only if the phone offers it\n")
        out.append(f"""
; ---------------------------------------------------------------------------
; {acc.display_name}: account {acc.name}, number {acc.number}
{extra}[{acc.user}]({templates})
auth = {acc.user}-auth
aors = {acc.user}
callerid = "{acc.display_name}" <{acc.number}>

[{acc.user}-auth](auth-template)
username = {acc.user}
password = {acc.password}

[{acc.user}](aor-template)
""")
    return "".join(out)


def render_extensions_conf(cfg: LabConfig) -> str:
    dp = cfg.dialplan
    out = [
        _header(
            "extensions.conf: the dial plan",
            [
                "When a phone dials a number, Asterisk runs the priorities of that extension",
                "in order. The report's plan, for each number N of account A:",
                f"  1 Answer({dp.answer_ms})     answer the CALLER and wait {dp.answer_ms} ms: the caller",
                "                     gets 200 OK before the callee even rings (see notebook 04)",
                f"  2 Dial(PJSIP/A,{dp.dial_timeout_s})  ring account A for {dp.dial_timeout_s} s",
                "  3 Hangup()         hang up when the callee hangs up or does not answer",
                "A number that is not listed here is answered with 404 Not Found.",
            ],
        ),
        f"""
[general]
static = yes
writeprotect = yes

[{dp.context}]
""",
    ]
    for acc in cfg.accounts:
        out.append(f"""; {acc.display_name}
exten => {acc.number},1,Answer({dp.answer_ms})
 same => n,Dial(PJSIP/{acc.user},{dp.dial_timeout_s})
 same => n,Hangup()

""")
    if cfg.webrtc.enabled:
        out.append(_render_extensions_webrtc(cfg))
    return "".join(out)


# ---------------------------------------------------------------------------
# The WebRTC chapter (notebook 08): rendered only when [webrtc] enabled = true


def _cert_files(layout: AsteriskLayout) -> tuple[str, str, str]:
    k = keys_dir(layout)
    return f"{k}/{SERVER_CERT_FILE}", f"{k}/{SERVER_KEY_FILE}", f"{k}/{CA_CERT_FILE}"


def render_http_conf(cfg: LabConfig, layout: AsteriskLayout) -> str:
    """``http.conf`` of a WebRTC lab: HTTPS only, on the PBX address, port 8089.

    The browser opens ``wss://<pbx>:8089/ws``: an HTTP ``Upgrade: websocket`` request
    on this TLS server, handed to res_http_websocket, then to res_pjsip_transport_websocket.

    Taught in notebook 08.
    """
    cert, key, _ca = _cert_files(layout)
    p, w = cfg.pbx, cfg.webrtc
    return _header(
        "http.conf: Asterisk's built-in HTTP server, for the secure WebSocket (WebRTC)",
        ["Plain HTTP stays off: the browser only accepts a secure WebSocket (wss://) from a",
         "page served over HTTPS. The TLS server listens on the PBX address only, port",
         f"{w.https_port}; SIP over WebSocket (RFC 7118) is at wss://{p.host}:{w.https_port}/ws.",
         "Its certificate is the lab's server certificate (P-256 key: Chromium refuses P-521",
         "server keys), signed by the lab's P-521 root CA that the browser trusts."],
    ) + f"""
[general]
; enabled = no switches the plain HTTP listener (port 8088) off; the TLS listener
; below still runs ('http show status' says "Server Disabled" for the plain one).
enabled = no
servername = Asterisk (voiplab lab)
tlsenable = yes
tlsbindaddr = {p.host}:{w.https_port}
tlscertfile = {cert}
tlsprivatekey = {key}
"""


def _render_pjsip_webrtc_transports(cfg: LabConfig, layout: AsteriskLayout) -> str:
    cert, key, ca = _cert_files(layout)
    p, w = cfg.pbx, cfg.webrtc
    nets = "\n".join(f"permit = {n}" for n in PRIVATE_NETWORKS)
    return f"""
; SIP over TLS (sips:, port {w.tls_port}): the signalling is encrypted, so the SDES keys
; of SRTP (a=crypto lines in the SDP) cannot be read on the network. TLS 1.2, as in the
; report (method = tlsv1_2).
[transport-tls]
type = transport
protocol = tls
bind = {p.host}:{w.tls_port}
cert_file = {cert}
priv_key_file = {key}
ca_list_file = {ca}
method = tlsv1_2
verify_client = no
verify_server = no

; SIP over a secure WebSocket (RFC 7118) for browsers: the WebSocket itself is served
; by http.conf (wss://{p.host}:{w.https_port}/ws); this object only says that SIP may
; arrive that way. Never bind it to 0.0.0.0: Asterisk binds the RTP of WebRTC calls to
; the address of the transport the call came in on.
[transport-wss]
type = transport
protocol = wss
bind = {p.host}

; ACL: SIP requests are accepted only from private networks (RFC 1918) and loopback.
[private-networks]
type = acl
deny = 0.0.0.0/0.0.0.0
{nets}
"""


def _render_pjsip_webrtc_templates(cfg: LabConfig, layout: AsteriskLayout) -> str:
    cert, key, ca = _cert_files(layout)
    return f"""
; ---------------------------------------------------------------------------
; WebRTC chapter (notebook 08): every endpoint uses the chapter's dial plan
[chapter6-template](!)
context = {WEBRTC_CONTEXT}
; SIP MESSAGEs from this phone are handled in [{MESSAGE_CONTEXT}] (relayed to the addressee)
message_context = {MESSAGE_CONTEXT}
; SUBSCRIBE for presence looks up the hints of [{HINT_CONTEXT}]. NOTE: res_pjsip_exten_state,
; which would answer them, fails to load in this Asterisk build (undefined symbol):
; the hints are harmless but a SUBSCRIBE gets 489 Bad Event.
subscribe_context = {HINT_CONTEXT}
allow_subscribe = yes

; webrtc=yes is shorthand for: use_avpf=yes, media_encryption=dtls (DTLS-SRTP),
; dtls_verify=fingerprint, dtls_setup=actpass, ice_support=yes,
; media_use_received_transport=yes, rtcp_mux=yes
[webrtc-template](!)
webrtc = yes
transport = transport-wss
; DTLS handshake on the media path: Asterisk proves it owns this certificate; the
; browser checks it against the a=fingerprint of the SDP (carried over wss://).
dtls_cert_file = {cert}
dtls_private_key = {key}
dtls_ca_file = {ca}
; the browser sends G.711 like the Alcatel: no transcoding in the PBX
; (whatever direct_media says, Asterisk never bridges DTLS-SRTP media directly to a
; plain RTP phone: the PBX relays, decrypting one side and encrypting the other)

; a SIP phone in the WebRTC lab: SDES-SRTP when it offers it (sips:/TLS, notebook 08),
; plain RTP otherwise (the Alcatel stays plain UDP)
[sdes-template](!)
media_encryption = sdes
media_encryption_optimistic = yes
"""


def _render_extensions_webrtc(cfg: LabConfig) -> str:
    out = [f"""
; ---------------------------------------------------------------------------
; The WebRTC chapter's dial plan (notebook 08)
[{WEBRTC_CONTEXT}]
; {MOH_EXTENSION}: music on hold: ring 2 s, answer, play music until the caller hangs up
exten => {MOH_EXTENSION},1,Ringing()
 same => n,Wait(2)
 same => n,Answer()
 same => n,MusicOnHold()
"""]
    for acc in cfg.accounts:
        out.append(f"""; {acc.display_name}: ring {WEBRTC_DIAL_TIMEOUT_S} s
exten => {acc.number},1,Dial(PJSIP/{acc.user},{WEBRTC_DIAL_TIMEOUT_S})
 same => n,Hangup()
""")
    out.append(f"""; anything else: hang up
exten => _X.,1,Hangup()

; SIP MESSAGE (out of a call): Asterisk relays it to the addressee's registered phone.
; ${{MESSAGE(from)}} is the sender, ${{MESSAGE(body)}} the text.
[{MESSAGE_CONTEXT}]
""")
    for acc in cfg.accounts:
        out.append(f"""exten => {acc.number},1,NoOp(MESSAGE from ${{MESSAGE(from)}} to {acc.name}: ${{MESSAGE(body)}})
 same => n,MessageSend(pjsip:{acc.user},${{MESSAGE(from)}})
 same => n,Hangup()
""")
    out.append(f"""
; presence hints: the state of PJSIP/<account> (idle, ringing, in use) for SUBSCRIBE
[{HINT_CONTEXT}]
""")
    for acc in cfg.accounts:
        out.append(f"exten => {acc.number},hint,PJSIP/{acc.user}\n")
    return "".join(out)


def _check_values(cfg: LabConfig, ami_secret: str) -> None:
    """The last guard before text reaches Asterisk: no value may hold a line break or a comment.

    :class:`~voiplab.config.LabConfig` already checks every value against what Asterisk
    accepts; this catches a configuration changed behind its back (``object.__setattr__``).
    """
    values: list[tuple[str, object]] = [(f"pbx.{k}", v) for k, v in vars(cfg.pbx).items()]
    values += [(f"dialplan.{k}", v) for k, v in vars(cfg.dialplan).items()]
    values += [("language", cfg.language), *((f"codecs[{i}]", c) for i, c in enumerate(cfg.codecs))]
    for acc in cfg.accounts:
        values += [(f"accounts.{acc.name}.{k}", v) for k, v in vars(acc).items()]
    for key, value in values:
        if isinstance(value, str) and (";" in value or any(not ch.isprintable() for ch in value)):
            raise ConfigError(f"key {key} holds a line break, a control character or ';', which would change "
                              f"the Asterisk files: fix it in lab.toml ({value!r})", path=cfg.source, key=key)
    if not _AMI_SECRET_RE.fullmatch(ami_secret):
        raise ConfigError("the manager secret must be 16 to 128 letters, digits, _ or -: make it with "
                          "secrets.token_urlsafe()", key="ami_secret")


def render_all(cfg: LabConfig, layout: AsteriskLayout, *, ami_secret: str) -> dict[str, str]:
    """Every configuration file of the lab's Asterisk, by file name.

    Parameters:
        cfg: the lab configuration.
        layout: the directories as Asterisk sees them.
        ami_secret: the secret of voiplab's manager account for this start of the lab.

    Returns:
        ``{"asterisk.conf": text, "pjsip.conf": text, ...}``.

    Raises:
        ConfigError: a value would change the meaning of a file (see :func:`_check_values`).
    """
    _check_values(cfg, ami_secret)
    files = {
        "asterisk.conf": render_asterisk_conf(layout),
        "modules.conf": render_modules_conf(cfg),
        "logger.conf": render_logger_conf(),
        "manager.conf": render_manager_conf(cfg, ami_secret),
        "rtp.conf": render_rtp_conf(cfg),
        "pjsip.conf": render_pjsip_conf(cfg, layout),
        "extensions.conf": render_extensions_conf(cfg),
        "sorcery.conf": render_sorcery_conf(),
        # empty but present: Asterisk complains about missing files otherwise
        "musiconhold.conf": "; musiconhold.conf: rendered by voiplab\n[default]\nmode = files\n"
        f"directory = {layout.data_dir}/moh\n",
        "http.conf": render_http_conf(cfg, layout) if cfg.webrtc.enabled else
        "; http.conf: rendered by voiplab (the built-in HTTP server is off here)\n"
        "[general]\nenabled = no\n",
        "cdr.conf": "[general]\nenable = no\n",
        "cel.conf": "[general]\nenable = no\n",
    }
    return files
