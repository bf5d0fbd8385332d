"""Reading images from disk into tensors, and writing contact sheets. No network access."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.errors import ExportError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(*folders: str | Path) -> list[Path]:
    """All image files directly inside the given folders, sorted; a missing folder is an error."""
    found: list[Path] = []
    for folder in folders:
        path = Path(folder)
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
            continue
        if not path.is_dir():
            raise ExportError(f"{path}: image folder not found")
        found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return found


def load_rgb(path: str | Path, short_side: int | None = None, long_side: int | None = None) -> torch.Tensor:
    """An image as float CHW RGB in [0, 1], optionally resized (aspect kept) by one of its sides."""
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            w, h = rgb.size
            scale = 1.0
            if short_side:
                scale = short_side / min(w, h)
            elif long_side:
                scale = long_side / max(w, h)
            if scale != 1.0:
                rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
            arr = np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot read image ({exc})") from exc
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0


def to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """CHW float [0, 1] -> HWC uint8."""
    return (image.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def contact_sheet(
    rows: list[list[torch.Tensor]], path: str | Path, cell: tuple[int, int] = (192, 128), gap: int = 4
) -> Path:
    """Write a grid of CHW images (each row a list) as one PNG; cells are letterboxed to ``cell``."""
    cw, ch = cell
    n_cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (n_cols * (cw + gap) + gap, len(rows) * (ch + gap) + gap), (24, 24, 24))
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            tile = Image.fromarray(to_uint8_hwc(img))
            tile.thumbnail((cw, ch), Image.Resampling.LANCZOS)
            x = gap + c * (cw + gap) + (cw - tile.width) // 2
            y = gap + r * (ch + gap) + (ch - tile.height) // 2
            sheet.paste(tile, (x, y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
