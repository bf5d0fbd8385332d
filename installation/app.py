"""The whole installation, wired: the show (source -> model -> projector), the visitor server and
Director, operator control, OSC, opening hours and systemd supervision.

``Installation`` only builds the parts and connects them; each piece of state has one owner thread:

- main (render) thread: the frame loop and everything on it (tick hooks: opening hours, config reload).
  Other threads change it only by ``loop.post(event)``.
- server thread (asyncio): the visitor/operator server, the Director, its queue, interpreter, moderator
  and attract mode, and ``ShowControl``. Other threads change them only by submitting a coroutine
  (``_on_director_thread``): the hot keys, a config reload, the interpreter once it has loaded.
- brain thread: loads the sentence-embedding model and builds the interpreter, then hands it over; it
  is joined on close, so no native thread is still running while the interpreter exits.

``stop()`` only sets a flag (safe in a signal handler); a tick hook turns it into a ``Stop`` event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ConfigError, EngineError
from engine.events import Blackout, SetStrength, SetTransition, Stop
from engine.sinks.capabilities import KeyInput, Overlays, Warpable
from engine.sources.base import Selectable, Steerable, find_first
from installation.bus.build import build_bus, uses_redis
from installation.bus.redis_bus import RedisBus
from installation.config.schema import ShowConfig
from installation.control.schedule import AttractMode, OpeningHours
from installation.ops.unstyled import UnstyledReminder
from installation.prompts.director import Director
from installation.prompts.interpreter import Interpreter
from installation.show import Show, build_show, open_show

if TYPE_CHECKING:  # imported where they start, so a show without them never loads them
    from installation.control.osc import OscControl, OscFeedback
    from installation.control.show_control import ShowControl
    from installation.ops.supervision import Watchdog
    from installation.server.prompt_server import PromptServer, ServerThread

log = logging.getLogger(__name__)


def qr_image(url: str, module_px: int = 4) -> np.ndarray:
    """The URL as a QR code: RGB uint8, black modules on white with a quiet zone, generated locally."""
    import segno

    matrix = np.array([[bool(v) for v in row] for row in segno.make(url, error="m").matrix], dtype=bool)
    matrix = np.pad(matrix, 2, constant_values=False)
    pixels = np.where(matrix, 0, 255).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((module_px, module_px), np.uint8))
    return np.repeat(pixels[:, :, None], 3, axis=2)


class HoursWatch:
    """Tick hook: outside opening hours, black out (or show the slide) with inference paused."""

    def __init__(self, hours: OpeningHours, slide: Path | None, every_s: float = 5.0, now=dt.datetime.now) -> None:
        self.hours, self.slide, self.every_s, self.now = hours, slide, every_s, now
        self._last_check = -1e9
        self.open: bool | None = None

    def __call__(self, loop) -> None:
        t = loop.clock()
        if t - self._last_check < self.every_s:
            return
        self._last_check = t
        is_open = self.hours.is_open(self.now())
        if is_open != self.open:
            log.info("opening hours: %s", "open, the show runs" if is_open else "closed, inference paused")
            self.open = is_open
            loop.post(Blackout(not is_open, None if is_open else self.slide))


def attract_mode(cfg: ShowConfig, n_styles: int) -> AttractMode | None:
    """The Director's attract mode for ``cfg`` (None when it is off); each Director needs its own."""
    return AttractMode(n_styles, cfg.attract) if cfg.attract.enabled else None


def reconfigure_directors(
    directors: list[Director], old: ShowConfig, new: ShowConfig, embed: Any, n_styles: int
) -> None:
    """(the Directors' thread: the server thread) Pacing, the interpreter's temperature, moderation and attract
    mode from a reloaded config: one new moderator for all of them (moderation is show-wide), an attract
    mode each. The one-machine show has one Director, a hub one per zone."""
    changes: dict[str, Any] = {}
    if new.director != old.director:
        nd = changes["settings"] = new.director
        for interpreter in {id(d.interpreter): d.interpreter for d in directors if d.interpreter}.values():
            interpreter.tune(nd.temperature, nd.top_k)
    if new.moderation != old.moderation:
        changes["moderator"] = build_moderator(new, embed)
    for director in directors:
        if new.attract != old.attract:
            changes["attract"] = attract_mode(new, n_styles)
        director.configure(**changes)


def build_moderator(cfg: ShowConfig, embed):
    from installation.prompts.moderation import DEFAULT_CONCEPTS, Moderator, load_blocklist, load_concepts

    m = cfg.moderation
    phrases = list(m.block)
    if m.blocklist:
        phrases += load_blocklist(cfg.resolve(m.blocklist))
    semantic = m.semantic and embed is not None
    concepts = (list(m.concepts) or load_concepts(DEFAULT_CONCEPTS)) if semantic else []
    return Moderator(
        phrases,
        default_list=m.default_list,
        embed=embed if semantic else None,
        blocked_concepts=concepts,
        threshold=m.threshold,
    )


def build_expander(cfg: ShowConfig, embed):
    from installation.prompts.expander import HttpExpander, OfflineExpander, TransformersExpander

    e = cfg.director.expander
    if e.type == "none":
        return None
    offline = OfflineExpander(embed)
    if e.type == "http":
        return HttpExpander(e.url, e.model, offline, e.timeout_s, os.environ.get("LATERNA_LLM_API_KEY", ""))
    if e.type == "transformers":
        return TransformersExpander(cfg.resolve(e.model_dir), offline, e.timeout_s)
    return offline


class Installation:
    """Build with a config; ``run()`` blocks on the main thread until the show stops."""

    def __init__(self, cfg: ShowConfig, headless: bool = False, port: int | None = None, server: bool | None = None):
        self.cfg = cfg
        self.show: Show = build_show(cfg, headless)
        loop = self.show.loop
        self.unstyled = UnstyledReminder(self.show.stylizer)  # no model loads: the show goes on, and says so
        loop.on_tick.append(self.unstyled)
        names = self.show.manifest.style_names
        self.embedder = None
        self.director: Director | None = None
        self.server_thread: ServerThread | None = None
        self.server: PromptServer | None = None
        self.streams: Any = None  # installation.server.stream_routes.StreamService, when the show streams
        self.osc: OscControl | None = None
        self.osc_feedback: OscFeedback | None = None
        self.watchdog: Watchdog | None = None
        self.browser: subprocess.Popen | None = None
        self.reloader = None
        self.control: ShowControl | None = None
        self.warnings = None
        self.hours_watch: HoursWatch | None = None
        self.bus = build_bus(cfg.bus, loop.post, loop.target, cfg.style.transition_s, cfg.style.easing)
        self.clustered = uses_redis(cfg.bus)
        self.redis_bus: RedisBus | None = self.bus if isinstance(self.bus, RedisBus) else None
        if self.redis_bus is not None:  # a render node: the hub's decisions come through the bus into this loop
            if cfg.bus.role == "hub":
                raise ConfigError(
                    "bus.role: hub runs without a frame loop: start it with `laterna run` (HubInstallation)"
                )
            attract = AttractMode(len(names), cfg.attract) if names else None
            self.redis_bus.follow(loop, attract, self.show.manifest.sha256)
        self._brain_thread: threading.Thread | None = None
        self._stop_requested = False  # set by stop() from any thread or a signal handler; read on the main thread
        self._stop_posted = False
        self._director_cfg = cfg  # the config the Director runs with: server thread only, once it runs
        self.serve = cfg.server.enabled if server is None else server
        if self.clustered and cfg.bus.role == "node":
            self.serve = False  # visitors, the Director and the panel live on the hub
        self.port = cfg.server.port if port is None else port
        self._set_hours(cfg)
        if self.show.streams is not None and not (self.serve and names):
            log.warning("streams.enabled, but the visitor server is off: nothing serves the streams")
        if self.serve and names:
            from installation.prompts.embedding import SentenceEmbedder

            self.embedder = SentenceEmbedder()
            a = cfg.attract
            self.director = Director(
                self.bus.post,
                None,
                None,
                build_moderator(cfg, self.embedder),
                cfg.director,
                attract=attract_mode(cfg, len(self.show.manifest.style_names)),
                default_strength=cfg.style.strength,
            )
            self.director.hours = self.hours_watch.hours if self.hours_watch else None  # closed: visitors told
            if self.redis_bus is not None:
                director = self.director
                self.redis_bus.mode = lambda: director.mode
            if a.enabled and a.source != "live":
                if find_first(self.show.source, Selectable) is not None:
                    self.director.attract_source = a.source  # nobody there: crossfade to the generator's dream
        if cfg.source_file and Path(cfg.source_file).is_file():
            from installation.config.reload import ConfigReloader

            self.reloader = ConfigReloader(cfg.source_file, cfg, self._apply_reload)
            loop.on_tick.append(self.reloader)
        loop.on_tick.append(self._watch_stop)

    # -- hot reload ----------------------------------------------------------------------------------
    def _set_hours(self, cfg: ShowConfig) -> None:
        loop = self.show.loop
        if not cfg.hours.schedule:
            if self.hours_watch is not None:
                loop.on_tick.remove(self.hours_watch)
                self.hours_watch = None
                loop.post(Blackout(False))
            self._tell_director_hours(None)  # visitors' prompts are accepted at any time
            return
        slide = cfg.resolve(cfg.hours.slide) if cfg.hours.outside == "slide" else None
        if self.hours_watch is None:
            self.hours_watch = HoursWatch(OpeningHours(cfg.hours.schedule), slide)
            loop.on_tick.append(self.hours_watch)
        else:
            self.hours_watch.hours, self.hours_watch.slide = OpeningHours(cfg.hours.schedule), slide
            self.hours_watch.open = None  # re-evaluate at the next check
            self.hours_watch._last_check = -1e9
        self._tell_director_hours(self.hours_watch.hours)  # closed: visitors are told when it opens

    def _tell_director_hours(self, hours: OpeningHours | None) -> None:
        """(render thread, a reload) The Director's copy of the opening hours changes on its own thread."""
        director = self.director
        if director is None:
            return

        async def tell() -> None:
            director.hours = hours

        self._on_director_thread(tell(), "the new opening hours")

    def _apply_reload(self, old: ShowConfig, new: ShowConfig) -> None:
        """Apply the safe settings of a reloaded config (a tick hook: render thread). The loop's change by
        posted events, the opening hours here (their watch is a tick hook too), the Director's on its thread."""
        if (new.style.transition_s, new.style.easing) != (old.style.transition_s, old.style.easing):
            self.bus.post(SetTransition(new.style.transition_s, new.style.easing))  # a cluster's nodes too
        if new.style.strength != old.style.strength:
            self.bus.post(SetStrength(new.style.strength))
        if new.hours != old.hours:
            self._set_hours(new)
        if new.display != old.display:
            self._recalibrate(new)
        if self.director is not None and (new.director, new.moderation, new.attract) != (
            old.director,
            old.moderation,
            old.attract,
        ):
            self._on_director_thread(self._reconfigure_director(new), "the reloaded director settings")

    def _recalibrate(self, new: ShowConfig) -> None:
        """(render thread, a reload) Each projector window takes its new keystone, mesh, blend and colour."""
        from engine.sinks.window import ProjectorSink
        from installation.show import blend_spec

        windows = [s for s in self.show.sinks if isinstance(s, ProjectorSink)]
        for i, (window, out) in enumerate(zip(windows, new.display.all_outputs)):
            window.set_keystone([tuple(p) for p in out.keystone] or None)
            window.set_mesh(out.mesh or None)
            window.set_blend(blend_spec(new.display, i))
        if windows:
            log.info("projector calibration reloaded (%d window(s))", len(windows))
        control = self.control
        if control is not None and control.calibration is not None:  # the panel nudges from the file's points
            from installation.calibration import Calibration

            calibration = Calibration(new.display)

            async def adopt() -> None:
                control.calibration = calibration

            self._on_director_thread(adopt(), "the reloaded calibration")

    def _on_director_thread(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``coro`` on the server's loop, where the Director lives; dropped (and said) if it is not running."""
        try:
            if self.server_thread is None:
                raise RuntimeError("the visitor server is not running")
            self.server_thread.submit(coro)
        except (EngineError, RuntimeError) as exc:  # stopping, or never started: nothing there to change
            coro.close()
            log.info("%s were not applied: %s", what, exc)

    async def _reconfigure_director(self, new: ShowConfig) -> None:
        """(server thread) Pacing, interpreter, moderation and attract mode from a reloaded config."""
        assert self.director is not None
        old, self._director_cfg = self._director_cfg, new
        reconfigure_directors([self.director], old, new, self.embedder, len(self.show.manifest.style_names))
        log.info("the director has the reloaded settings")

    # -- parts -------------------------------------------------------------------------------------
    def _load_brain(self) -> None:
        """(brain thread) Load the sentence model, build interpreter + expander, hand them to the Director."""
        assert self.embedder is not None
        try:
            self.embedder.load()
            if self._stop_requested:
                return
            d = self.cfg.director
            interp = Interpreter(self.embedder, list(self.show.manifest.styles), d.temperature, d.top_k)
            expander = build_expander(self.cfg, self.embedder)
            latent = self._generator_latent()
        except Exception:  # the picture goes on without prompts; operators see why
            log.exception("the prompt interpreter could not be loaded; visitors' prompts will wait")
            return
        self._on_director_thread(self._install_brain(interp, expander, latent), "the prompt interpreter")

    async def _install_brain(self, interp: Interpreter, expander: Any, latent: Any) -> None:
        """(server thread) The loaded interpreter goes to work, with the settings of the latest reload."""
        assert self.director is not None
        d = self._director_cfg.director
        interp.tune(d.temperature, d.top_k)
        self.director.set_interpreter(interp, expander)
        self.director.generator_latent = latent
        log.info("prompt interpreter ready (%d styles)", len(interp.names))

    def _generator_latent(self) -> Any:
        """If a generator is (or may become) the source, prompts also steer its latent walk: words -> latent."""
        from installation.prompts.generator_steering import latent_for_text

        generator = find_first(self.show.source, Steerable)
        if generator is None or self.embedder is None:
            return None
        embedder, dim, seed = self.embedder, generator.latent_dim, self.cfg.source.seed
        log.info("prompts also steer the generator's latent walk (%d dimensions)", dim)
        return lambda text: latent_for_text(embedder([text])[0], dim, seed)

    def status(self) -> dict:
        stats = self.show.loop.stats.snapshot()
        d = self.director.status() if self.director else {}
        return {
            "fps": stats["fps"],
            "prompt": d.get("prompt"),
            "mix": stats["mix"],
            "strength": stats["strength"],
            "queue_length": d.get("queue_length", 0),
            "mode": d.get("mode", ""),
        }

    def operator_token(self) -> str | None:
        """From the file the config names, else $LATERNA_OPERATOR_TOKEN; never from the config itself."""
        if self.cfg.operator.token_file:
            path = self.cfg.resolve(self.cfg.operator.token_file)
            try:
                return path.read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                log.warning("operator token file %s cannot be read (%s); the operator panel is locked", path, exc)
                return None
        token = os.environ.get("LATERNA_OPERATOR_TOKEN", "").strip()
        if not token:
            log.warning("LATERNA_OPERATOR_TOKEN is not set: the operator panel is locked")
        return token or None

    def _operator_parts(self):
        from installation.control.show_control import LoopView, ShowControl
        from installation.control.warning_log import WarningLog
        from installation.ops.metrics import Metrics
        from installation.ops.supervision import Health

        loop = self.show.loop
        self.warnings = WarningLog()
        self.warnings.install()
        control = ShowControl(
            dataclasses.replace(LoopView.of(loop), post=self.bus.post),
            self.director,
            self.show.manifest.style_names,
            self.cfg.resolve(self.cfg.operator.snapshot_dir),
            self.warnings,
            transition_s=self.cfg.style.transition_s,
            streams=self.show.streams,
        )
        self.control = control
        if any(isinstance(s, Warpable) for s in self.show.sinks):  # the panel can nudge the projectors' points
            from installation.calibration import Calibration

            control.calibration = Calibration(self.cfg.display)
            if self.cfg.source_file and Path(self.cfg.source_file).is_file():
                control.config_path = Path(self.cfg.source_file)
        self.director.is_pinned = lambda: control.pinned is not None
        metrics = Metrics()
        loop.on_tick.append(metrics.on_tick)
        streams = self.show.streams
        installation = self

        class LiveMetrics:
            def render(self):
                visitors = installation.server.connected_visitors if installation.server else 0
                metrics.update(
                    loop.stats.snapshot(),
                    installation.director.status(),
                    visitors,
                    problems=installation.show.problems(),
                    streams=streams.stats() if streams is not None else None,
                )
                return metrics.render()

        return Health(lambda: loop.last_tick, degraded=self.unstyled.reasons), LiveMetrics()

    def _start_server(self) -> None:
        from installation.server.prompt_server import PromptServer, ServerThread
        from installation.server.settings import ServerSettings

        s = self.cfg.server
        settings = ServerSettings(
            **{
                **s.model_dump(),
                "port": self.port,
                "page_title": s.page_title or f"Laterna — {self.cfg.name}",
                "tls_cert": str(self.cfg.resolve(s.tls_cert)) if s.tls_cert else "",
                "tls_key": str(self.cfg.resolve(s.tls_key)) if s.tls_key else "",
            }
        )
        health, metrics = self._operator_parts()
        self.streams = self._stream_service()
        if self.director is None:
            raise RuntimeError("the visitor server needs a Director (server enabled and styles to choose from)")
        self.server = PromptServer(
            self.director,
            settings,
            status_provider=self.status,
            operator_token=self.operator_token(),
            control=self.control,
            health=health,
            metrics=metrics,
            streams=self.streams,
        )
        server = self.server
        self.server_thread = ServerThread(server, background=[self.director.run])
        self.port = self.server_thread.start()
        log.info("visitors: %s (websocket /ws, status /status)", server.url)
        if s.join_hint:
            self._join_hint(self._join_url(server.url))
        self._hotkeys()
        if self.cfg.kiosk.browser:
            self._start_browser(f"http://127.0.0.1:{self.port}/")

    def _stream_service(self) -> Any:
        """The live picture's routes on the visitor port (``streams.enabled``), or None."""
        sink = self.show.streams
        if sink is None:
            return None
        from installation.server.stream_routes import StreamService

        service = StreamService(
            sink,
            self.cfg.streams,
            log_addresses=self.cfg.server.log_addresses,
            title=self.cfg.server.page_title or f"Laterna — {self.cfg.name}",
        )
        routes = ", ".join(r.path for r in service.routes() if not r.path.startswith("/xr/"))
        log.info("streams: %s (%d output(s), up to %d viewers)", routes, len(sink.outputs), sink.max_viewers)
        return service

    def _join_url(self, url: str) -> str:
        """Where the join hint points: the visitor page, or the /xr viewer when ``streams.join_page: xr``."""
        if self.cfg.streams.join_page == "xr" and self.streams is not None and self.streams.serves_xr:
            return url.rstrip("/") + "/xr"
        if self.cfg.streams.join_page == "xr":
            log.warning(
                "streams.join_page is xr, but this show serves no /xr page; the join hint shows the visitor page"
            )
        return url

    def _hotkeys(self) -> None:
        """b, f, g, s, n on the projector window's keyboard run operator commands (installation.control.hotkeys),
        on the server's loop like the panel's, so they never race the Director."""
        from installation.control.hotkeys import Hotkeys

        control = self.control
        if control is None:
            raise RuntimeError("the projector's hotkeys need the operator controls, built with the visitor server")
        keys = Hotkeys(control.apply, control.state)

        async def press(key: str) -> None:
            keys(key)

        def on_key(key: str) -> None:
            self._on_director_thread(press(key), f"the key {key!r}")

        for sink in self.show.sinks:
            if isinstance(sink, KeyInput):
                sink.key_handlers.append(on_key)

    def _join_hint(self, url: str) -> None:
        """The visitor page's address and QR code on the projection, as server.join_* say."""
        s = self.cfg.server
        qr = qr_image(url)
        lines = [line for line in (s.join_text, url) if line]
        for sink in self.show.sinks:
            if isinstance(sink, Overlays):
                sink.set_overlay("join", lines, s.join_position, image=qr, size_px=s.join_text_px)

    def _start_browser(self, url: str) -> None:
        """Kiosk touchscreen: the visitor page full screen in a local browser window."""
        k = self.cfg.kiosk
        exe = shutil.which(k.command)
        if exe is None:
            log.warning("kiosk browser %r not found; open %s on the touchscreen by hand", k.command, url)
            return
        profile = tempfile.mkdtemp(prefix="laterna-kiosk-")
        self.browser = subprocess.Popen(
            [
                exe,
                "--kiosk",
                f"--app={url}",
                f"--window-position={k.window_x},{k.window_y}",
                "--no-first-run",
                "--noerrdialogs",
                "--disable-translate",
                "--disable-background-networking",
                "--disable-sync",
                "--disable-component-update",
                f"--user-data-dir={profile}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        log.info("kiosk browser started on the touchscreen at (%d, %d)", k.window_x, k.window_y)

    def _start_osc(self) -> None:
        from installation.control.osc import OscControl, OscFeedback, director_submitter

        o = self.cfg.osc
        loop = self.show.loop
        submit = None
        if self.director is not None and self.server_thread is not None and self.server_thread.loop is not None:
            submit = director_submitter(self.director.submit, self.server_thread.loop)
        osc = self.osc = OscControl(
            self.bus.post, self.show.manifest.style_names, lambda: loop.target, submit, port=o.port
        )
        osc.start()
        if o.feedback_host:
            feedback = self.osc_feedback = OscFeedback(
                o.feedback_host,
                o.feedback_port,
                loop.stats.snapshot,
                lambda: self.director.status().get("prompt") if self.director else None,
            )
            feedback.start()
            if self.redis_bus is not None:
                self.redis_bus.on_node_change.append(feedback.node_change)

    def _start_watchdog(self) -> None:
        from installation.ops.supervision import Watchdog

        if not os.environ.get("NOTIFY_SOCKET"):
            return
        loop = self.show.loop
        watchdog = self.watchdog = Watchdog(
            lambda: loop.last_tick, stats=loop.stats.snapshot, is_up=lambda: loop.stats.frames > 0
        )
        watchdog.start()

    # -- run ---------------------------------------------------------------------------------------
    def run(self, frames: int | None = None, seconds: float | None = None) -> dict:
        """Open everything and run the frame loop on this thread until stopped; always closes. A stop asked
        for during start-up skips the rest of it."""
        loop = self.show.loop
        try:
            steps = [self.bus.start, lambda: open_show(self.show)]
            if self.director is not None:
                steps += [self._start_server, self._start_brain]
            if self.cfg.osc.enabled:
                steps.append(self._start_osc)
            steps.append(self._start_watchdog)
            for step in steps:
                if self._stop_requested:
                    log.info("stopping during start-up")
                    return loop.stats.snapshot()
                step()
            if self.reloader is not None and threading.current_thread() is threading.main_thread():
                reloader = self.reloader
                signal.signal(signal.SIGHUP, lambda *_: setattr(reloader, "force", True))
            if self._stop_requested:
                return loop.stats.snapshot()
            return loop.run(max_frames=frames, duration=seconds)
        finally:
            self.close()

    def _start_brain(self) -> None:
        self._brain_thread = threading.Thread(target=self._load_brain, name="laterna-brain")
        self._brain_thread.start()

    def _watch_stop(self, loop: Any) -> None:
        """Tick hook: a requested stop becomes a ``Stop`` event, posted from the loop's own thread."""
        if self._stop_requested and not self._stop_posted:
            self._stop_posted = loop.post(Stop())

    def stop(self) -> None:
        """Ask the show to stop; callable from any thread and from a signal handler (it only sets a flag)."""
        self._stop_requested = True

    def close(self) -> None:
        self._stop_requested = True
        if self.browser is not None and self.browser.poll() is None:
            self.browser.terminate()
        if self.warnings is not None:
            self.warnings.uninstall()
        for part in (self.watchdog, self.osc_feedback, self.osc, self.server_thread, self.bus):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %s", type(part).__name__)
        brain = self._brain_thread
        if brain is not None and brain.is_alive():
            log.info("waiting for the prompt interpreter to finish loading before exit")
            brain.join(timeout=120.0)
            if brain.is_alive():
                log.warning("the prompt interpreter is still loading after 120 s; exiting anyway")
        self.show.close()
