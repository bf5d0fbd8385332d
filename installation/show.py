"""Assembling a show from a ``ShowConfig``: source (+ fallback), backends in order, stylizer, sinks, loop.

Everything is built before anything opens, so a bad model or path fails with a clear message first.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from dataclasses import dataclass

from engine.backends.base import Backend, BackendOptions, TritonTarget
from engine.errors import ConfigError, EngineError
from engine.loop import FrameLoop
from engine.manifest import Manifest, load_manifest
from engine.pipeline import Stylizer
from engine.registry import BACKENDS, SINKS, SOURCES, resolve
from engine.sinks.base import FrameSink
from engine.sinks.blend import BlendSpec, Zones, overlap_zones
from engine.sinks.capabilities import Overlays
from engine.sinks.fanout import FanoutSink
from engine.sources.base import FrameSource
from engine.stabilizer import Stabilizer
from engine.style import StyleMix
from engine.upscale import UPSCALERS, Upscaler
from installation.config.schema import ShowConfig
from installation.show_settings import DisplaySettings

log = logging.getLogger(__name__)


def has_display() -> bool:
    """True when a window can be opened: a desktop session, or any non-Linux desktop OS."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return True  # explicitly asked for an off-screen window (tests)
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def camera_present(device: int | str) -> bool:
    """Cheap check for a local camera (Linux: /dev/videoN); URLs and paths are assumed present."""
    if isinstance(device, int) and sys.platform.startswith("linux"):
        return os.path.exists(f"/dev/video{device}")
    return True


def list_cameras() -> list[str]:
    return sorted(glob.glob("/dev/video*")) if sys.platform.startswith("linux") else []


def _simple_source(kind: str, cfg: ShowConfig) -> FrameSource:
    s = cfg.source
    cls = resolve(SOURCES, kind, "source")
    if kind == "pattern":
        return cls(width=s.width, height=s.height, fps=s.fps, seed=s.seed)
    if kind == "video":
        return cls(path=cfg.resolve(s.path))
    if kind == "slideshow":
        return cls(images=cfg.resolve(s.path), width=s.width, height=s.height, seconds=s.slide_seconds, fps=s.fps)
    if kind == "camera":
        return cls(device=s.device, width=s.width, height=s.height, fps=s.fps, stale_after=s.stale_after_s)
    if kind == "ndi":
        use_ndi_config(cfg)
        return cls(name=s.ndi_name, stale_after=s.stale_after_s)
    if kind == "generator":
        return cls(
            model=cfg.resolve(s.generator),
            width=s.width,
            height=s.height,
            fps=s.fps,
            seed=s.seed,
            speed=s.walk_speed,
            amplitude=s.walk_amplitude,
            audio=s.audio,
            sharpen=s.dream_sharpen,
        )
    raise ConfigError(f"{cfg.source_file}: source.type {kind!r} is not available in this build")


def output_size(cfg: ShowConfig) -> tuple[int, int]:
    """The size the sinks receive: ``upscale.width``/``height``, where 0 takes the display's canvas (the
    first window's size, or the bounding box of several projectors' regions)."""
    u = cfg.upscale
    cw, ch = cfg.display.canvas_size
    return (u.width or cw, u.height or ch)


def build_upscaler(cfg: ShowConfig) -> Upscaler:
    """The configured upscaler; a GPU one that cannot start falls back to the CPU one, saying so."""
    u = cfg.upscale
    if u.method == "resize":
        return resolve(UPSCALERS, "resize", "upscaler")()  # type: ignore[no-any-return]
    options = {"radius": u.radius, "eps": u.eps, "guide": u.guide, "form": u.form, "detail": u.detail}
    if u.device != "cpu":
        try:
            cls = resolve(UPSCALERS, "guided-torch", "upscaler")
            return cls(device=u.device, **options)  # type: ignore[no-any-return]
        except (EngineError, ImportError, RuntimeError) as exc:
            log.warning("guided upscaling on %s unavailable (%s); upscaling on the CPU", u.device, exc)
    return resolve(UPSCALERS, "guided", "upscaler")(**options)  # type: ignore[no-any-return]


def source_size(cfg: ShowConfig, upscaler: Upscaler) -> tuple[int, int]:
    """The size sources deliver: the output size when the upscaler takes its edges from the source,
    else the working size (the model's input; nothing larger is needed)."""
    work = (cfg.pipeline.width, cfg.pipeline.height)
    out = output_size(cfg)
    if not (upscaler.needs_guide and out != work):
        return work
    s = cfg.source
    if s.width < out[0] or s.height < out[1]:
        log.warning(
            "guided upscaling to %dx%d from a source captured at %dx%d adds little detail: set source.width/height "
            "to the output size",
            out[0],
            out[1],
            s.width,
            s.height,
        )
    return out


def build_source(cfg: ShowConfig, size: tuple[int, int] | None = None) -> FrameSource:
    """The configured source, with its fallback, at ``size`` (default: the working size); with ``attract.source:
    generator`` a switch between it ("live") and the generator ("generator") that attract mode drives."""
    from engine.sources.black import BlackSource
    from engine.sources.crossfade import SwitchSource
    from engine.sources.fallback import FallbackSource
    from engine.sources.transform import TransformedSource

    s = cfg.source
    kind = s.type
    if kind == "auto":
        kind = "camera" if camera_present(s.device) else "pattern"
        if kind == "pattern":
            log.warning("no camera found (%s); showing the built-in animated source", s.device)
    source = _simple_source(kind, cfg)
    if kind in ("camera", "video", "ndi"):
        if s.fallback == "none":  # "no fallback" still shows something while the source is broken: black
            fallback: FrameSource = BlackSource(s.width, s.height, fps=s.fps)
        else:
            fallback = _simple_source(s.fallback, cfg) if s.fallback != kind else _simple_source("pattern", cfg)
        source = FallbackSource(source, fallback, crossfade_s=s.crossfade_s)
    width, height = size or (cfg.pipeline.width, cfg.pipeline.height)
    source = TransformedSource(source, width, height, mirror=s.mirror, zoom=s.zoom)
    if cfg.attract.enabled and cfg.attract.source == "generator" and kind != "generator":
        from engine.sources.generator import GeneratorSource

        dream = GeneratorSource(
            model=cfg.resolve(s.generator),
            width=width,
            height=height,
            fps=s.fps,
            seed=s.seed,
            speed=s.walk_speed,
            amplitude=s.walk_amplitude,
            audio=s.audio,
            sharpen=s.dream_sharpen,
        )
        source = SwitchSource({"live": source, "generator": dream}, "live", crossfade_s=s.crossfade_s)
    return source


def backend_options(cfg: ShowConfig) -> BackendOptions:
    """The ``model`` section as the options every backend reads."""
    m = cfg.model
    return BackendOptions(
        device=m.device,
        threads=m.threads,
        sessions=m.sessions,
        providers=m.providers,
        fp16=m.fp16,
        engine_path=str(cfg.resolve(m.engine)) if m.engine else "",
        triton=TritonTarget(
            url=m.triton.effective_url(),
            model=m.triton.model,
            version=m.triton.version,
            timeout_s=m.triton.timeout_s,
            connect_timeout_s=m.triton.connect_timeout_s,
        ),
    )


def backend_factories(cfg: ShowConfig, manifest: Manifest) -> list:
    m = cfg.model
    options = backend_options(cfg)
    factories = []
    for name in m.backends:
        cls = resolve(BACKENDS, name, "backend")

        def make(cls: type = cls) -> Backend:
            return cls(manifest, options)

        factories.append(make)
    return factories


def build_streams(cfg: ShowConfig) -> FanoutSink | None:
    """The stream outputs' fan-out sink when ``streams.enabled`` (else None): outputs at their own size,
    where the config gives none the size of the picture the sinks receive (``output_size``: the upscaled size,
    else the display's canvas, which with several projectors is all of them)."""
    s = cfg.streams
    if not s.enabled:
        return None
    return FanoutSink(s.specs(output_size(cfg)), max_viewers=s.max_viewers)


def build_sinks(cfg: ShowConfig, headless: bool) -> list[FrameSink]:
    d = cfg.display
    kind = d.type
    if headless:
        kind = "headless"
    elif kind == "auto":
        kind = "window" if has_display() else "headless"
        if kind == "headless":
            log.warning("no display found (DISPLAY is not set): running headless; frames are processed but not shown")
    sinks: list[FrameSink] = []
    if kind == "window":
        sinks += projector_sinks(d)
    else:
        sinks.append(resolve(SINKS, "headless", "sink")())
    if cfg.record.path:
        path = str(cfg.resolve(cfg.record.path))
        if cfg.record.path.endswith(("/", "\\")):
            path += "/"  # Path() drops the slash that tells the recorder "a new folder of PNGs"
        sinks.append(resolve(SINKS, "recorder", "sink")(path=path, fps=d.fps or 30.0, every_n=cfg.record.every_n))
    streams = build_streams(cfg)
    if streams is not None:
        sinks.append(streams)
    if cfg.ndi.send:
        if streams is None:
            raise ConfigError(
                f"{cfg.source_file or 'config'}: ndi.send needs streams.enabled: true (NDI sends a stream output)"
            )
        use_ndi_config(cfg)
        sinks.append(resolve(SINKS, "ndi", "sink")(streams, source_name=cfg.ndi.name, output=cfg.ndi.output))
    return sinks


def use_ndi_config(cfg: ShowConfig) -> None:
    """With ``ndi.ips``: write the unicast discovery config and point this process's NDI library at it."""
    if cfg.ndi.ips:
        from engine.ndi import use_config

        use_config(cfg.resolve(cfg.ndi.config_dir), cfg.ndi.ips, machine_name="")


def blend_spec(display: DisplaySettings, index: int) -> BlendSpec | None:
    """Output ``index``'s edge blend: its written zone widths, else the overlaps of the outputs' regions."""
    outputs = display.all_outputs
    out = outputs[index]
    b = out.blend
    cw, ch = display.canvas_size
    regions = [tuple(o.region) if o.region else (0, 0, cw, ch) for o in outputs]
    auto = overlap_zones(regions, index)  # type: ignore[arg-type]
    zones = Zones(
        auto.left if b.left is None else b.left,
        auto.right if b.right is None else b.right,
        auto.top if b.top is None else b.top,
        auto.bottom if b.bottom is None else b.bottom,
    )
    spec = BlendSpec(zones, b.curve, b.gamma, out.gain, out.black_level)
    return None if spec == BlendSpec(gamma=b.gamma, curve=b.curve) else spec


def projector_sinks(display: DisplaySettings) -> list[FrameSink]:
    """One window per output: the first is pygame's display window, the rest separate SDL windows that
    it closes before the display goes."""
    cls = resolve(SINKS, "window", "sink")
    sinks = []
    for i, out in enumerate(display.all_outputs):
        sinks.append(
            cls(
                width=out.width,
                height=out.height,
                display=out.monitor,
                fullscreen=out.fullscreen,
                fit=out.fit,
                keystone=[tuple(p) for p in out.keystone] or None,
                hide_cursor=out.hide_cursor,
                vsync=out.vsync,
                region=out.region or None,
                blend=blend_spec(display, i),
                mesh=out.mesh or None,
                position=out.position or None,
                separate=i > 0,
                draws_overlays=out.overlays if out.overlays is not None else i == 0,
                title="Laterna" if i == 0 else f"Laterna {i + 1}",
            )
        )
    sinks[0].companions = sinks[1:]
    return sinks


@dataclass
class Show:
    """A ready-to-run show: the loop and what it owns."""

    config: ShowConfig
    manifest: Manifest
    source: FrameSource
    stylizer: Stylizer
    sinks: list[FrameSink]
    loop: FrameLoop

    @property
    def streams(self) -> FanoutSink | None:
        """The stream outputs (``streams.enabled``), or None."""
        return next((s for s in self.sinks if isinstance(s, FanoutSink)), None)

    def problems(self) -> dict[str, str | None]:
        """What is degraded now, by part (the recorder, a source on its fallback): for ``/metrics``."""
        from engine.notice import ReportsProblem
        from engine.sources.base import find_all

        parts = [*self.sinks, *find_all(self.source, ReportsProblem)]
        return {part.name: part.problem for part in parts if isinstance(part, ReportsProblem)}

    def close(self) -> None:
        self.loop.stop()
        things: list[FrameSink | FrameSource | Stylizer] = [*self.sinks, self.source, self.stylizer]
        for thing in things:
            try:
                thing.close()
            except EngineError as exc:
                log.warning("closing %s: %s", type(thing).__name__, exc)


def build_show(cfg: ShowConfig, headless: bool = False) -> Show:
    manifest = load_manifest(cfg.resolve(cfg.model.manifest))
    names = manifest.style_names
    start = (
        StyleMix.from_names(names, cfg.style.start, cfg.style.strength)
        if cfg.style.start and names
        else StyleMix(tuple([1.0 / max(len(names), 1)] * len(names)), cfg.style.strength)
    )
    p = cfg.pipeline
    upscaler = build_upscaler(cfg)
    stylizer = Stylizer(
        backend_factories(cfg, manifest),
        (p.width, p.height),
        Stabilizer(p.smoothing, p.motion_threshold) if p.smoothing > 0 else None,
        retry_s=cfg.model.retry_s,
        upscaler=upscaler,
        output_size=output_size(cfg),
    )
    source = build_source(cfg, source_size(cfg, upscaler))
    sinks = build_sinks(cfg, headless)
    loop = FrameLoop(
        source,
        stylizer,
        sinks,
        start,
        output_size(cfg),
        display_fps=cfg.display.fps,
        transition_s=cfg.style.transition_s,
        ease=cfg.style.easing,
        frame_budget_s=p.frame_budget_ms / 1000.0,
        workers=p.workers,
    )
    if cfg.display.stats_overlay:
        loop.on_tick.append(StatsOverlay(sinks))
    loop.on_tick.append(BlackoutHidesOverlays(sinks))
    return Show(cfg, manifest, source, stylizer, sinks, loop)


class StatsOverlay:
    """Draws live stats (fps, frame time, model time, backend, mix) in the corner of window sinks."""

    def __init__(self, sinks: list[FrameSink], every_s: float = 0.5) -> None:
        self.targets = [s for s in sinks if isinstance(s, Overlays)]
        self.every_s = every_s
        self._last = -1e9

    def __call__(self, loop: FrameLoop) -> None:
        now = loop.clock()
        if not self.targets or now - self._last < self.every_s:
            return
        self._last = now
        st = loop.stats.snapshot()
        top = max(st["mix"].items(), key=lambda kv: kv[1], default=("-", 0))
        lines = [
            f"{st['fps']:.1f} fps  frame p99 {st['frame_ms']['p99']:.0f} ms  model {st['model_ms']['p50']:.0f} ms",
            f"{st['backend']}  dropped {st['dropped']}  errors {st['errors']}",
            f"{top[0]} {top[1]:.2f}  strength {st['strength']:.2f}",
        ]
        for sink in self.targets:
            sink.set_overlay("stats", lines, "top-left")


class BlackoutHidesOverlays:
    """Tick hook: during a blackout no overlay (join hint, stats) is drawn on the wall: black means black."""

    def __init__(self, sinks: list[FrameSink]) -> None:
        self.targets = [s for s in sinks if hasattr(s, "overlays_visible")]

    def __call__(self, loop: FrameLoop) -> None:
        visible = not loop.blackout
        for sink in self.targets:
            sink.overlays_visible = visible


def open_show(show: Show) -> None:
    """Open the source and sinks (sinks on the calling thread: SDL wants the main thread)."""
    show.source.open()
    for sink in show.sinks:
        sink.open()
    show.loop.stats.source = getattr(show.source, "name", type(show.source).__name__)
