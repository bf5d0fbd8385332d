#!/usr/bin/env python3
"""A side-by-side crop of the three ways to fill a projector: resize vs guided vs stylising at full size.

    python tools/upscale_crop.py --out docs/upscale_crop.png
    python tools/upscale_crop.py --dream --out docs/dream_crop.png

With ``--dream``: the generator's 64x64 dream at 1920x1080, before (bicubic enlargement, stylised at
640x360, resized) and after (the enlargement sharpened, ``source.dream_sharpen: 4``, and guided upscaling),
beside the camera path (the built-in source at 1080p, guided) for comparison, each with its edge energy.

A shared Kodak photo (768x510) is the full-size source; the model stylises it at 256x170 (the factor 3 of
1080p from 640x360), then the picture is enlarged by a bilinear resize and by the guided upscaler
(engine.upscale, the show's defaults), and, for comparison, stylised at 768x510 directly. The same crop of
each is shown enlarged 2x (nearest neighbour: every output pixel visible), labelled. Writes under runs/ by
default, never over the shipped docs/ copy unless asked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from engine.backends.base import BackendOptions  # noqa: E402
from engine.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from engine.convert import to_pixels, to_tensor  # noqa: E402
from engine.manifest import load_manifest  # noqa: E402
from engine.style import StyleMix  # noqa: E402
from engine.upscale import GuidedUpscaler, ResizeUpscaler  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def label(picture: np.ndarray, text: str) -> np.ndarray:
    """``picture`` under a black strip with ``text`` in white."""
    strip = np.zeros((28, picture.shape[1], 3), np.uint8)
    cv2.putText(strip, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([strip, picture])


def edge_energy(pixels: np.ndarray) -> float:
    """Mean |luminance - its Gaussian blur (sigma 1.5)| over the luminance's spread: fine detail, contrast-free."""
    y = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(y - cv2.GaussianBlur(y, (0, 0), 1.5)).mean() / (y.std() + 1e-6))


def dream_sheet(backend: OnnxRuntimeBackend, weights: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """Before / after / camera-path crops of 1920x1080 outputs, labelled with their edge energy."""
    from engine.sources.generator import GeneratorSource
    from engine.sources.pattern import PatternSource

    size, work = (1920, 1080), (640, 360)
    generator = load_manifest(ROOT / "models" / "generator.json")

    def way(source: np.ndarray, upscaler: GuidedUpscaler | ResizeUpscaler) -> np.ndarray:
        small = cv2.resize(source, work, interpolation=cv2.INTER_AREA)
        styled = to_pixels(backend.infer(to_tensor(small), weights))
        return upscaler.upscale(styled, small, source, size)

    pictures = []
    for sharpen, upscaler, text in (
        (0.0, ResizeUpscaler(), "dream before: bicubic, resize"),
        (4.0, GuidedUpscaler(), "dream after: sharpened 4, guided"),
    ):
        dream = GeneratorSource(generator, width=size[0], height=size[1], sharpen=sharpen)
        dream.open()
        try:
            pictures.append((text, way(dream.render(dream.walk.wander(7.0)), upscaler)))
        finally:
            dream.close()
    pictures.append(("camera path: built-in 1080p, guided", way(PatternSource(*size).render(40.0), GuidedUpscaler())))
    x, y, w, h = crop
    tiles = [label(p[y : y + h, x : x + w], f"{text} (edge {edge_energy(p):.3f})") for text, p in pictures]
    return np.hstack([np.hstack([t, np.zeros((t.shape[0], 6, 3), np.uint8)]) for t in tiles])[:, :-6]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dream", action="store_true", help="the generator's dream before/after instead")
    p.add_argument("--photo", default=str(SHARED / "content" / "kodak" / "kodim08.png"))
    p.add_argument("--model", default=str(ROOT / "models" / "lantern.json"))
    p.add_argument("--style", default="starry_night")
    p.add_argument("--crop", default="250,150,220,150", help="x,y,w,h of the crop in the 768x510 picture")
    p.add_argument("--out", default=str(ROOT / "runs" / "upscale_crop.png"))
    args = p.parse_args()

    if args.dream:
        manifest = load_manifest(args.model)
        names = manifest.style_names
        weights = StyleMix.single(len(names), names.index(args.style)).as_array()
        backend = OnnxRuntimeBackend(manifest, BackendOptions(threads=2)).load()
        try:
            sheet = dream_sheet(backend, weights, (700, 380, 520, 320))
        finally:
            backend.close()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"wrote {out}")
        return 0
    bgr = cv2.imread(args.photo, cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"cannot read {args.photo}", file=sys.stderr)
        return 1
    if bgr.shape[0] > bgr.shape[1]:
        bgr = cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE)
    source = np.ascontiguousarray(cv2.cvtColor(bgr[:510, :768], cv2.COLOR_BGR2RGB))
    size = (source.shape[1], source.shape[0])
    small = cv2.resize(source, (size[0] // 3, size[1] // 3), interpolation=cv2.INTER_AREA)

    manifest = load_manifest(args.model)
    names = manifest.style_names
    weights = StyleMix.single(len(names), names.index(args.style)).as_array()
    backend = OnnxRuntimeBackend(manifest, BackendOptions(threads=2)).load()
    try:
        styled = to_pixels(backend.infer(to_tensor(small), weights))
        native = to_pixels(backend.infer(to_tensor(source), weights))
    finally:
        backend.close()
    guided = GuidedUpscaler()
    ways = [
        (f"resize from {small.shape[1]}x{small.shape[0]}", ResizeUpscaler().upscale(styled, small, None, size)),
        (f"guided from {small.shape[1]}x{small.shape[0]}", guided.upscale(styled, small, source, size)),
        (f"stylised at {size[0]}x{size[1]}", native),
        ("source", source),
    ]
    x, y, w, h = (int(v) for v in args.crop.split(","))
    tiles = []
    for text, picture in ways:
        crop = picture[y : y + h, x : x + w]
        tiles.append(label(cv2.resize(crop, (w * 2, h * 2), interpolation=cv2.INTER_NEAREST), text))
    sheet = np.hstack([np.hstack([t, np.zeros((t.shape[0], 6, 3), np.uint8)]) for t in tiles])[:, :-6]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out} ({guided.describe()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
