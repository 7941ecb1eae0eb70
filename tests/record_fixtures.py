"""Record the real captures of tests/data from the local lab (run by hand, as root).

    python tests/record_fixtures.py            # writes tests/data/*.pcap

The captures are committed: unit tests of the pure core run on these real bytes,
and tshark is their oracle. Recorded with a real Asterisk 22, the pjsua2 phone
"rpi" (127.0.0.82) and the simulated Alcatel (127.0.0.81):

- ``register_401.pcap``: rpi registers: REGISTER, 401 + digest challenge,
  REGISTER with Authorization, 200 OK (password 22222222);
- ``call_rpi_to_alcatel.pcap``: rpi registers and calls 5001; the Alcatel rings
  2 s and answers, the direct-media re-INVITEs move RTP phone to phone, rpi sends
  DTMF 1234# (RFC 4733), then hangs up;
- ``call_alcatel_to_rpi.pcap``: the Alcatel calls 5002, rpi answers, then hangs up.
"""

from __future__ import annotations

import sys
import time

import voiplab as vl
from voiplab.capture.live import LiveCapture
from voiplab.devices.alcatel import SimulatedAlcatel
from voiplab.devices.phone import Phone
from voiplab.teach.samples import SAMPLE_DIR

DATA = SAMPLE_DIR  # the samples shipped with voiplab.teach
LAB_HOSTS = ("127.0.0.80", "127.0.0.81", "127.0.0.82", "127.0.0.83")


def capture(name: str) -> LiveCapture:
    cap = LiveCapture("lo", addresses=LAB_HOSTS, path=DATA / name, method="tcpdump")
    cap.start()
    time.sleep(0.3)
    return cap


def main() -> int:
    lab = vl.start_lab()
    alcatel = SimulatedAlcatel(lab.config)

    cap = capture("register_401.pcap")
    rpi = Phone("rpi", lab.config)
    rpi.register()
    time.sleep(0.3)
    cap.stop()
    rpi.close()
    time.sleep(0.5)

    cap = capture("call_rpi_to_alcatel.pcap")
    rpi = Phone("rpi", lab.config, audio="tone:440")
    rpi.register()
    call = rpi.call("5001").wait("CONFIRMED", timeout=15)
    time.sleep(3.0)  # the direct-media re-INVITEs, then RTP phone to phone
    call.send_dtmf("1234#")
    time.sleep(2.0)
    call.hangup()
    call.wait("DISCONNECTED", timeout=10)
    time.sleep(0.5)
    cap.stop()
    print("rpi -> 5001:", call.stats(), "alcatel heard:", alcatel.wait_call_ended()["dtmf"])

    cap = capture("call_alcatel_to_rpi.pcap")
    alcatel.call("5002")
    incoming = rpi.wait_incoming(timeout=15)
    incoming.answer()
    incoming.wait("CONFIRMED", timeout=10)
    time.sleep(4.0)
    incoming.hangup()
    incoming.wait("DISCONNECTED", timeout=10)
    time.sleep(0.5)
    cap.stop()
    rpi.unregister()
    rpi.close()
    for name in ("register_401.pcap", "call_rpi_to_alcatel.pcap", "call_alcatel_to_rpi.pcap"):
        print(name, (DATA / name).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
