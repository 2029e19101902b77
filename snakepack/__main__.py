"""python -m snakepack COMMAND ...: runs find-libdeps, wait-for-port or apt-install."""

import sys

from .cli import main

sys.exit(main())
