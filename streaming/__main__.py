"""`python -m streaming` — see streaming.cli."""

import sys

from streaming.cli import main

sys.exit(main())
