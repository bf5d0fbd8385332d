"""``laterna devices``: what this machine offers a show — cameras, displays, inference backends."""

from __future__ import annotations

import importlib.util
import os

from installation.show import has_display, list_cameras


def _cameras() -> list[str]:
    import cv2

    found = []
    for dev in list_cameras():
        cap = cv2.VideoCapture(dev)
        ok = cap.isOpened()
        if ok:
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            found.append(f"{dev} ({w}x{h})")
        cap.release()
    return found


def _displays() -> list[str]:
    if not has_display():
        return []
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    try:
        sizes = pygame.display.get_desktop_sizes()
        return [f"display {i}: {w}x{h} ({pygame.display.get_driver()})" for i, (w, h) in enumerate(sizes)]
    finally:
        pygame.display.quit()


def _backends() -> list[str]:
    lines = []
    try:
        import onnxruntime as ort

        lines.append(f"onnxruntime {ort.__version__}: providers {', '.join(ort.get_available_providers())}")
    except ImportError:
        lines.append("onnxruntime: not installed")
    try:
        import torch

        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
        lines.append(f"torch {torch.__version__}: cpu ({torch.get_num_threads()} threads), {cuda}")
    except ImportError:
        lines.append("torch: not installed")
    if importlib.util.find_spec("tensorrt"):
        import tensorrt

        lines.append(f"tensorrt {tensorrt.__version__}")
    else:
        lines.append("tensorrt: not installed (pip install '.[gpu]' on a CUDA machine)")
    return lines


def describe_devices() -> str:
    cams = _cameras()
    disps = _displays()
    out = ["Cameras:"] + [f"  {c}" for c in cams or ["none found (the built-in source will be used)"]]
    out += ["Displays:"] + [f"  {d}" for d in disps or ["none (no DISPLAY): shows run headless"]]
    out += ["Backends:"] + [f"  {b}" for b in _backends()]
    return "\n".join(out)
