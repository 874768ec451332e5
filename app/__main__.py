"""`python -m app`: the same as `physics-llm app`."""

import sys

from app.cli import main

sys.exit(main())
