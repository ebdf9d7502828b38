"""``python -m pluginhost``: the same as the ``pluginhost`` command."""

import sys

from ._cli import main

sys.exit(main())
