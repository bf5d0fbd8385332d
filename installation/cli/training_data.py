"""The training commands' default data: ``../shared/data`` beside the checkout.

Only ``train-style``, ``export`` and ``train-generator`` default to it (a show never reaches outside the
checkout). ``require_present`` turns a default that is not there into one clear ``ConfigError`` naming
the option to pass instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
PAINTINGS = SHARED / "styles"  # the style images, also what the generator learns to paint
PHOTOS = SHARED / "content" / "public_domain"  # held out of training: previews, parity, int8 calibration
SQUEEZENET = SHARED / "weights" / "squeezenet1_0" / "squeezenet1_0_imagenet.npz"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """--seed, --threads and --quiet, the same for every training command."""
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def require_present(**options: str | list[str] | None) -> None:
    """Raise if a value that points into the shared data (a default) does not exist; other values pass
    through to the command, which reports them itself. Keys are option names (``real_images``)."""
    missing = []
    for option, values in options.items():
        flag = "--" + option.replace("_", "-")
        for value in [values] if isinstance(values, str) else values or []:
            path = Path(value)
            if path.is_relative_to(SHARED) and not path.exists():
                missing.append(
                    f"{flag}: the default training data {path} is not there (it lives in ../shared/data "
                    f"beside the checkout); pass {flag} with your own"
                )
    if missing:
        raise ConfigError("\n".join(missing))
