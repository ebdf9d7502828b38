"""``python -m pluginhost``: the same as the ``pluginhost`` command."""

import sys

from .cli.main import main

sys.exit(main())
