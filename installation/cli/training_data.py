"""The training commands' default data: ``../shared/data`` beside the checkout.

Only ``train-style``, ``export`` and ``train-generator`` default to it (a show never reaches outside the
checkout). ``require_present`` turns a default that is not there into one clear ``ConfigError`` naming
the option to pass instead.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def shared(*parts: str) -> str:
    """A path inside the shared training data, as a command-line default."""
    return str(SHARED.joinpath(*parts))


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
