"""Loads benchmarks/gen_rtp.py (the synthetic capture generator) for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "gen_rtp.py"
_spec = importlib.util.spec_from_file_location("gen_rtp", _PATH)
assert _spec and _spec.loader
gen_rtp = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_rtp", gen_rtp)
_spec.loader.exec_module(gen_rtp)
