"""TensorRT engine files with a metadata header (after Ultralytics' engine header).

Layout: 4-byte little-endian length N, N bytes of UTF-8 JSON metadata (TensorRT version, GPU name,
precision, profile shapes, source model sha256), then the serialised engine. A plain engine without
a header is read too (metadata then empty), so engines built by ``trtexec`` can be used.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from engine.atomic_file import write_atomic
from engine.errors import ModelError

MAGIC_KEY = "laterna_engine"
_MAX_HEADER = 1 << 20


def write_engine_file(path: str | Path, engine_bytes: bytes, metadata: dict[str, Any]) -> Path:
    meta = json.dumps({MAGIC_KEY: 1, **metadata}).encode("utf-8")
    return write_atomic(path, struct.pack("<I", len(meta)) + meta + engine_bytes)


def read_engine_file(path: str | Path) -> tuple[dict[str, Any], bytes]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read TensorRT engine ({exc})") from exc
    if len(data) >= 4:
        (n,) = struct.unpack("<I", data[:4])
        if 0 < n < _MAX_HEADER and len(data) > 4 + n:
            try:
                meta = json.loads(data[4 : 4 + n].decode("utf-8"))
                if isinstance(meta, dict) and meta.get(MAGIC_KEY) == 1:
                    return meta, data[4 + n :]
            except (UnicodeDecodeError, json.JSONDecodeError):
                pass
    return {}, data
