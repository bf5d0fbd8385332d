"""Where a command's output files go, safely: never over a shipped file by accident, never half-written.

``StagedOutputs(out_dir, names, force)`` refuses up front (``OverwriteError``, naming each file and
``--force``) when any of ``names`` already exists in ``out_dir`` and ``force`` is off, before any
work is done. Inside ``with`` the command writes into a private staging folder in ``out_dir`` (same
filesystem); on success each named file is moved into place with ``os.replace`` (atomic), the
manifests (``.json``) and Triton model configs (``.pbtxt``) last, so a reader never sees a manifest
naming a file that is not there yet. On failure (an exception, a full disk) nothing in ``out_dir``
changes and the staging folder goes. A name may have folders in it (``lantern/1/model.onnx``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from engine.errors import ExportError

log = logging.getLogger(__name__)

DESCRIPTIONS = (".json", ".pbtxt")  # files that name other files: moved into place after them


class OverwriteError(ExportError):
    """A command would replace existing files and was not given ``--force``."""


def refuse_overwrite(paths: Iterable[Path], force: bool, alternative: str = "--out DIR to write elsewhere") -> None:
    """Raise ``OverwriteError`` naming every existing path (and the flags) unless ``force``."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise OverwriteError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; not "
            f"overwriting (a shipped model or manifest would be lost). Pass --force to replace "
            f"{'it' if len(existing) == 1 else 'them'}, or {alternative}."
        )


class StagedOutputs:
    """A set of named output files written to a staging folder and moved into ``out_dir`` together."""

    def __init__(self, out_dir: str | Path, names: Iterable[str], force: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.names = list(dict.fromkeys(names))
        refuse_overwrite((self.out_dir / n for n in self.names), force)
        self.stage: Path | None = None

    def __enter__(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".laterna-staging-", dir=self.out_dir))
        return self.stage

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        stage, self.stage = self.stage, None
        if stage is None:
            return
        try:
            if kind is None:
                self._commit(stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _commit(self, stage: Path) -> None:
        made = [n for n in self.names if (stage / n).is_file()]
        stray = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()) if stage.is_dir() else []
        stray = [n for n in stray if n not in self.names]
        if stray:
            log.debug("not moving undeclared files out of staging: %s", stray)
        for name in sorted(made, key=lambda n: n.endswith(DESCRIPTIONS)):  # manifests and configs last
            target = self.out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)  # names may lie in subfolders (a model repository)
            os.replace(stage / name, target)
        log.info("wrote %s into %s", ", ".join(made), self.out_dir)
