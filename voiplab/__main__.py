"""``python -m voiplab ...``: the ``voiplab`` command (see :mod:`voiplab.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
