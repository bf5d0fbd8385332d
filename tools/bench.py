#!/usr/bin/env python3
"""Benchmark tables (same as `laterna bench`): model-only and end-to-end speed, measured side by side."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from installation.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
