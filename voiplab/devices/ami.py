"""A minimal Asterisk Manager Interface (AMI) client: how voiplab talks to its Asterisk.

AMI is a line protocol over TCP: after a one-line banner, the client sends *actions*
(``Key: value`` lines ending with an empty line) and Asterisk answers with packets of
the same shape, a ``Response`` for each action (matched by ``ActionID``) and
``Event`` packets in between. voiplab uses it to run CLI commands (``Action: Command``,
so ``pjsip show endpoints`` needs no root and no console) and to wait for
``FullyBooted`` after a start.

One TCP connection per use (:meth:`AmiClient.session`): log in, do the work, log off.

Taught in notebook 02 (the Asterisk PBX: ``Pbx.cli`` runs through it).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from ..errors import PbxError

__all__ = ["AMI_TIMEOUT_S", "AmiClient", "AmiSession"]

#: seconds to connect and to wait for each answer of Asterisk
AMI_TIMEOUT_S = 5.0
#: the end of one line, and of one packet (an empty line), in AMI
_LINE_END = b"\r\n"
_PACKET_END = b"\r\n\r\n"
#: bytes read from the socket at once
_RECV_SIZE = 65536


class AmiClient:
    """Where the Asterisk manager listens and the account voiplab logs in with.

    Parameters:
        host, port: the manager's address (``[pbx] host``, ``ami_port``).
        user, secret: the manager account (voiplab's own, with the lab's random secret).
        local: connect from ``host`` itself (a local lab, whose manager permits only its address).
        timeout: seconds for the connection and for each answer.
    """

    def __init__(self, host: str, port: int, user: str, secret: str, timeout: float = AMI_TIMEOUT_S, *,
                 local: bool = True):
        self.host, self.port, self.user, self.secret, self.timeout = host, port, user, secret, timeout
        self.local = local

    def __repr__(self) -> str:
        return f"AmiClient({self.user}@{self.host}:{self.port})"

    @contextlib.contextmanager
    def session(self) -> Iterator[AmiSession]:
        """A logged-in connection, logged off and closed when the ``with`` block ends.

        Raises:
            PbxError: the manager is not reachable or refused the login.
        """
        try:
            # from the lab's own address: the manager permits only that one (manager.conf)
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout,
                                            source_address=(self.host, 0) if self.local else None)
        except OSError as e:
            raise PbxError(
                f"the Asterisk manager at {self.host}:{self.port} is not reachable ({e.strerror or e}): "
                "is the lab up? run 'voiplab lab up' (or 'voiplab lab status')"
            ) from None
        s = AmiSession(sock)
        try:
            s.read_banner()
            resp = s.action({"Action": "Login", "Username": self.user, "Secret": self.secret})
            if resp.get("Response") != "Success":
                raise PbxError(f"the Asterisk manager refused login for {self.user} "
                               f"({resp.get('Message', '?')}): restart the lab ('voiplab lab down', then "
                               "'voiplab lab up'), which makes a new secret")
            yield s
        finally:
            with contextlib.suppress(OSError):
                s.send({"Action": "Logoff"})
            sock.close()


class AmiSession:
    """One AMI connection: send actions, read packets (made by :meth:`AmiClient.session`)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.counter = 0

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            try:
                chunk = self.sock.recv(_RECV_SIZE)
            except TimeoutError:
                raise PbxError("the Asterisk manager did not answer in time: "
                               "check 'voiplab lab status' and the log in the lab directory") from None
            if not chunk:
                raise PbxError("the Asterisk manager closed the connection: Asterisk may have stopped; "
                               "run 'voiplab lab up'")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def read_banner(self) -> str:
        """The first line Asterisk sends (``Asterisk Call Manager/...``)."""
        return self._read_until(_LINE_END).decode("utf-8", "replace")

    def send(self, fields: dict[str, str]) -> str:
        """Send one action; returns the ``ActionID`` its response will carry."""
        self.counter += 1
        action_id = f"voiplab-{self.counter}"
        text = "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + f"ActionID: {action_id}\r\n\r\n"
        self.sock.sendall(text.encode())
        return action_id

    def read_packet(self) -> list[tuple[str, str]]:
        """The next packet as ``(key, value)`` pairs in order (a line without ``:`` has key "")."""
        raw = self._read_until(_PACKET_END).decode("utf-8", "replace")
        pairs = []
        for line in raw.split("\r\n"):
            k, sep, v = line.partition(":")
            if sep:
                pairs.append((k.strip(), v[1:] if v.startswith(" ") else v))
            elif line:
                pairs.append(("", line))
        return pairs

    def action(self, fields: dict[str, str]) -> dict[str, str]:
        """Send an action and return its response (events in between are skipped)."""
        action_id = self.send(fields)
        while True:
            pairs = self.read_packet()
            d = dict(pairs)
            if d.get("ActionID") == action_id and "Response" in d:
                return d

    def command(self, command: str) -> str:
        """Run a CLI command (as ``asterisk -rx``) and return its output.

        Raises:
            PbxError: Asterisk refused the command.
        """
        action_id = self.send({"Action": "Command", "Command": command})
        while True:
            pairs = self.read_packet()
            d = dict(pairs)
            if d.get("ActionID") != action_id or "Response" not in d:
                continue
            if d["Response"] == "Error":
                raise PbxError(f"Asterisk refused the command {command!r}: {d.get('Message', '?')}")
            return "\n".join(v for k, v in pairs if k == "Output")

    def wait_event(self, name: str, timeout: float) -> dict[str, str]:
        """Wait for the event ``name`` (e.g. ``FullyBooted``) and return it.

        Raises:
            PbxError: it did not come within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = dict(self.read_packet())
            if d.get("Event") == name:
                return d
        raise PbxError(f"Asterisk did not send {name} within {timeout:.0f} s: read its log")
