"""NDI in this process: the binding (``cyndilib``, the ``[ndi]`` extra; its wheel bundles libndi) and the
discovery config Laterna writes for it.

NDI finds sources by mDNS by default. Galleries often run networks without it (managed switches, VLANs),
so Laterna writes an NDI config file, ``ndi-config.v1.json``, into a folder of its own and points the
library at it with ``NDI_CONFIG_DIR``: unicast discovery of the machines listed in ``ips`` (the same list
NDI Access Manager calls "Remote Sources"). libndi reads the file when it initialises, so
``use_config`` must run before the first ``import_ndi`` of the process; it is per process.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.atomic_file import write_atomic

log = logging.getLogger(__name__)

CONFIG_FILE = "ndi-config.v1.json"
CONFIG_ENV = "NDI_CONFIG_DIR"


def config_text(ips: Sequence[str], machine_name: str = "") -> str:
    """The NDI config: unicast discovery of ``ips`` (comma separated in the file), no multicast sending."""
    ndi: dict[str, object] = {
        "networks": {"ips": ",".join(ips), "discovery": ""},
        "unicast": {"enable": True},
        "multicast": {"send": {"enable": False}},
    }
    if machine_name:
        ndi["machinename"] = machine_name
    return json.dumps({"ndi": ndi}, indent=2) + "\n"


def use_config(folder: str | Path, ips: Sequence[str], machine_name: str = "") -> Path:
    """Write the config into ``folder`` and point this process's NDI library at it (before it loads)."""
    path = Path(folder) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, config_text(ips, machine_name))
    os.environ[CONFIG_ENV] = str(path.parent)
    log.info("NDI: discovery config %s (unicast to %s)", path, ", ".join(ips) or "nobody")
    return path


def import_ndi() -> Any:
    """``cyndilib``; ImportError saying how to get it."""
    try:
        import cyndilib  # libndi loads here: after use_config
    except ImportError as exc:
        raise ImportError(f"NDI needs the [ndi] extra (pip install '.[ndi]': cyndilib): {exc}") from exc
    return cyndilib
