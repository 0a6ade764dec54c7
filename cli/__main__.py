"""``python -m cli`` = the ``episode-assistant`` console script."""

import sys

from .main import main

sys.exit(main())
