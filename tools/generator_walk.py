#!/usr/bin/env python3
"""A filmstrip of the generator's live dream: frames of its latent walk, as the engine renders them at the
working size, and the same frames restyled by the style network. Writes a PNG (default
docs/generator_walk.png): top row the generator source's frames, bottom row after the style network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from engine.manifest import load_manifest  # noqa: E402
from engine.sources.generator import GeneratorSource  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stylise(session: ort.InferenceSession, pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    x = pixels.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    out = session.run(None, {"image": x, "style": weights[None].astype(np.float32)})[0][0]
    return (np.clip(out.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default=str(ROOT / "models" / "generator.json"))
    p.add_argument("--style-model", default=str(ROOT / "models" / "lantern.json"))
    p.add_argument("--style", default="starry_night", help="the style of the bottom row")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--every", type=float, default=3.0, help="seconds of the walk between frames")
    p.add_argument("--size", default="640x360", help="the working size the engine renders at")
    p.add_argument(
        "--out", default=str(ROOT / "runs" / "generator_walk.png"), help="PNG to write (docs/ holds the shipped one)"
    )
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    clock = Clock()
    source = GeneratorSource(args.generator, width, height, fps=30.0, clock=clock)
    manifest = load_manifest(args.style_model)
    names = manifest.style_names
    if args.style not in names:
        p.error(f"--style must be one of {names}")
    weights = np.eye(len(names), dtype=np.float32)[names.index(args.style)]
    session = ort.InferenceSession(str(manifest.model_path), providers=["CPUExecutionProvider"])
    raw, styled = [], []
    with source:
        for _ in range(args.frames):
            for _ in range(int(args.every * 30)):  # the walk advances frame by frame, as it does live
                clock.now += 1.0001 / 30
                frame = source.read()
            if frame is None:
                raise SystemExit("the generator gave no frame")
            raw.append(frame.pixels)
            styled.append(stylise(session, frame.pixels, weights))
    thumb = (width // 2, height // 2)
    gap = np.full((thumb[1], 4, 3), 24, np.uint8)

    def row(images: list[np.ndarray]) -> np.ndarray:
        cells = []
        for img in images:
            cells += [cv2.resize(img, thumb, interpolation=cv2.INTER_AREA), gap]
        return np.concatenate(cells[:-1], axis=1)

    top, bottom = row(raw), row(styled)
    sheet = np.concatenate([top, np.full((4, top.shape[1], 3), 24, np.uint8), bottom], axis=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
