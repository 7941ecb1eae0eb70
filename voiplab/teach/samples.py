"""The lab's sample captures, shipped with the package, for students who cannot capture.

Recorded from the local lab (``tests/record_fixtures.py``): ``register_401`` (a
registration with its digest challenge), ``call_rpi_to_alcatel`` and
``call_alcatel_to_rpi`` (whole calls with direct media and DTMF).

Taught in notebooks 01, 03, 04 and 05 (when live capture is not permitted).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CaptureError

__all__ = ["SAMPLE_DIR", "SAMPLES_UID", "sample_capture", "sample_names"]

#: where the sample captures are installed (package data of voiplab.teach)
SAMPLE_DIR = Path(__file__).resolve().parent / "data"
#: the samples were recorded in root's default lab (127.0.0.80-83): ``config.default_config(SAMPLES_UID)``
SAMPLES_UID = 0


def sample_names() -> list[str]:
    """The names of the shipped sample captures (without ``.pcap``)."""
    return sorted(p.stem for p in SAMPLE_DIR.glob("*.pcap*"))


def sample_capture(name: str = "call_rpi_to_alcatel") -> Path:
    """The path of a sample capture of the local lab.

    Parameters:
        name: ``register_401``, ``call_rpi_to_alcatel`` or ``call_alcatel_to_rpi``
            (see :func:`sample_names`).

    Raises:
        CaptureError: no sample has that name.
    """
    path = SAMPLE_DIR / (name if name.endswith((".pcap", ".pcapng")) else f"{name}.pcap")
    if not path.is_file():
        raise CaptureError(f"the sample capture {path.name} does not exist: use one of "
                           f"{', '.join(sample_names()) or '(none installed)'}, or record your own with "
                           "vl.record_call()")
    return path
