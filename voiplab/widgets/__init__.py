"""Notebook panels (ipywidgets 8): views only, the logic stays in the library."""

from .panels import *  # noqa: F401,F403
from .panels import __all__  # noqa: F401
