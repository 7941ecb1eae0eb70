"""Notebook widgets (ipywidgets 8): views over the layers below, no protocol logic in them.

``vl.widgets.<name>``: one module per panel family, each name of a module's ``__all__``
reachable here (loaded on first use: ipywidgets is imported only when a panel is made).

* ``panels``: the softphone panel, the simulated Alcatel's panel, both side by side (06);
* ``register``: registering step by step, and the digest calculator (03);
* ``ladder``: the ladder stepper, one SIP message at a time (04);
* ``rtp``: the RTP browser: streams, packets, header fields, plots, audio (05);
* ``sipconfig``: the Alcatel's sipconfig editor with live validation, served to a phone (07);
* ``webrtc``: the link to the lab's browser phone (08).

Every panel has methods doing what its buttons do, so a notebook runs headless too, and a
``close()`` that frees what it holds (phones, servers, threads).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: the widget modules, in the order of the notebooks that use them
MODULES = ("panels", "register", "ladder", "rtp", "sipconfig", "webrtc", "dashboard")


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{name}":
            return None  # not written yet
        raise


def __getattr__(name: str) -> object:
    for module_name in MODULES:
        module = _module(module_name)
        if module is not None and name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"voiplab.widgets has no widget {name!r}")


def __dir__() -> list[str]:
    names = set(globals())
    for module_name in MODULES:
        module = _module(module_name)
        if module is not None:
            names.update(getattr(module, "__all__", ()))
    return sorted(names)
