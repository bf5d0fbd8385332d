"""Hot reload of a running show's config file.

Safe settings (styles and pacing, the Director's queue rules, moderation words, attract mode,
opening hours) and the projectors' calibration (``display`` keystone, mesh, blend, gain, black level,
of every output) apply without restarting the frame loop. Changes to anything else (source, model,
the rest of display, server ports) are reported as needing a restart and are not applied. A file that fails to
load or validate keeps the running config, and the operator is told why.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ConfigError
from installation.config.base import Settings
from installation.config.schema import ShowConfig, load_config

log = logging.getLogger(__name__)

SAFE_SECTIONS = ("style", "director", "moderation", "attract", "hours")
UNSAFE_FIELDS = {"director": ("expander",), "attract": ("source",)}  # parts of a safe section that still need a restart
CALIBRATION = ("keystone", "mesh", "blend", "gain", "black_level")  # display keys a running window takes live
_OUTPUT_KEY = re.compile(r"outputs\[(\d+)\]\.(\w+)$")


@dataclass
class ReloadResult:
    ok: bool
    applied: list[str] = field(default_factory=list)  # "section.key" that took effect
    needs_restart: list[str] = field(default_factory=list)
    error: str = ""


def diff(old: ShowConfig, new: ShowConfig) -> list[str]:
    """Changed settings as "section.key" (or "section" for top-level values)."""
    changed = []
    for name in ShowConfig.model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if isinstance(a, Settings):
            for key in type(a).model_fields:
                x, y = getattr(a, key), getattr(b, key)
                if x == y:
                    continue
                if name == "display" and key == "outputs" and len(x) == len(y):  # which output, which key
                    changed += [
                        f"display.outputs[{i}].{k}"
                        for i, (p, q) in enumerate(zip(x, y))
                        for k in type(p).model_fields
                        if getattr(p, k) != getattr(q, k)
                    ]
                else:
                    changed.append(f"{name}.{key}")
        else:
            changed.append(name)
    return changed


def is_safe(key: str) -> bool:
    section, _, name = key.partition(".")
    if section == "display":
        m = _OUTPUT_KEY.match(name)
        return (m.group(2) if m else name) in CALIBRATION
    return section in SAFE_SECTIONS and name not in UNSAFE_FIELDS.get(section, ())


def merge_safe(old: ShowConfig, new: ShowConfig) -> ShowConfig:
    """``old`` with the safe parts of ``new`` (what the running show becomes)."""
    merged = old
    for key in diff(old, new):
        if not is_safe(key):
            continue
        section, _, name = key.partition(".")
        m = _OUTPUT_KEY.match(name) if section == "display" else None
        if m:  # one key of one of the display's further outputs
            i, field_name = int(m.group(1)), m.group(2)
            outputs = list(merged.display.outputs)
            outputs[i] = outputs[i].model_copy(update={field_name: getattr(new.display.outputs[i], field_name)})
            merged = merged.model_copy(
                update={"display": merged.display.model_copy(update={"outputs": tuple(outputs)})}
            )
            continue
        merged = merged.model_copy(
            update={section: getattr(merged, section).model_copy(update={name: getattr(getattr(new, section), name)})}
        )
    return merged


class ConfigReloader:
    """Watches the config file; ``check()`` reloads it when it changed (call it every tick: it is cheap)."""

    def __init__(
        self,
        path: str | Path,
        current: ShowConfig,
        apply: Callable[[ShowConfig, ShowConfig], None],
        every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.current = current
        self.apply = apply
        self.every_s = every_s
        self.clock = clock
        self._last_check = -1e9
        self._mtime = self._stat()
        self.force = False  # set from a SIGHUP handler
        self.last: ReloadResult | None = None

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def __call__(self, _loop: object = None) -> None:
        self.check()

    def check(self) -> ReloadResult | None:
        now = self.clock()
        if not self.force and now - self._last_check < self.every_s:
            return None
        self._last_check = now
        mtime = self._stat()
        if not self.force and mtime == self._mtime:
            return None
        self.force = False
        self._mtime = mtime
        self.last = self.reload()
        return self.last

    def _empty(self) -> bool:
        try:
            return not self.path.read_bytes().strip()
        except OSError:
            return False  # load_config says what is wrong with a file it cannot read

    def reload(self) -> ReloadResult:
        try:
            if self._empty():
                # An editor that truncates and then writes: an empty file would load as all the defaults.
                raise ConfigError(f"{self.path}: the file is empty (still being written?)")
            new = load_config(self.path)
        except ConfigError as exc:
            log.warning("config reload failed; the show keeps running with the previous config:\n%s", exc)
            return ReloadResult(False, error=str(exc))
        changed = diff(self.current, new)
        safe = [k for k in changed if is_safe(k)]
        restart = [k for k in changed if not is_safe(k)]
        if restart:
            log.warning("config changes that need a restart were not applied: %s", ", ".join(restart))
        if not safe:
            return ReloadResult(True, [], restart)
        merged = merge_safe(self.current, new)
        try:
            self.apply(self.current, merged)
        except ConfigError as exc:
            log.warning("config reload could not be applied; keeping the previous config: %s", exc)
            return ReloadResult(False, needs_restart=restart, error=str(exc))
        self.current = merged
        log.info("config reloaded: %s", ", ".join(safe))
        return ReloadResult(True, safe, restart)
