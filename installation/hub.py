"""A cluster's hub (``bus.role: hub``): visitors, the Director, the operator panel, OSC, ``/healthz`` and
``/metrics``, and no frame loop. Its decisions go onto the Redis bus; render nodes show them.

The Director and ``ShowControl`` are the same code as in a one-machine show: they post events to
``bus.post`` where they posted to ``loop.post``, and the panel reads the hub's ``ShowState`` (the target,
blackout, freeze) and the nodes' heartbeats where it read the loop. With ``bus.zones`` each zone has its
own Director and ``ShowControl`` posting to ``bus.post(event, zone)``; ``ZoneDirectors`` and ``ZoneControl``
put them behind the one visitor server and panel (the first zone is the default; docs/cluster.md).
Threads: main (waits; a tick every 0.2 s for ``/healthz``), the server thread (Directors, panel), the bus
thread, the brain thread (loads the sentence model once, then hands the interpreter to the Directors on
their thread).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ConfigError, EngineError
from engine.manifest import load_manifest
from engine.style import StyleMix
from installation.app import attract_mode, build_expander, build_moderator
from installation.bus.build import build_bus, uses_redis
from installation.bus.redis_bus import RedisBus
from installation.config.schema import ShowConfig
from installation.prompts.director import Director

if TYPE_CHECKING:
    from installation.control.osc import OscControl, OscFeedback
    from installation.control.show_control import ShowControl
    from installation.control.warning_log import WarningLog
    from installation.server.prompt_server import PromptServer, ServerThread

log = logging.getLogger(__name__)


class HubInstallation:
    """Build with a config whose ``bus.role`` is hub; ``run()`` blocks until stopped, then closes."""

    def __init__(self, cfg: ShowConfig, port: int | None = None) -> None:
        if not uses_redis(cfg.bus):
            raise ConfigError(f"{cfg.source_file}: bus.role: hub needs bus.url or $LATERNA_BUS_URL")
        self.cfg = cfg
        self.manifest = load_manifest(cfg.resolve(cfg.model.manifest))
        names = self.manifest.style_names
        initial = (
            StyleMix.from_names(names, cfg.style.start, cfg.style.strength)
            if cfg.style.start
            else StyleMix(tuple([1.0 / max(len(names), 1)] * len(names)), cfg.style.strength)
        )
        bus = build_bus(cfg.bus, None, initial, cfg.style.transition_s, cfg.style.easing)
        assert isinstance(bus, RedisBus)  # uses_redis() said so
        self.bus: RedisBus = bus
        from installation.prompts.embedding import SentenceEmbedder

        self.embedder = SentenceEmbedder()
        moderator = build_moderator(cfg, self.embedder)  # one for every zone: moderation is show-wide
        self.directors = {zone: self._director(zone, moderator) for zone in self.bus.keepers}
        self.director = self.directors[self.bus.default_zone]  # the default zone's (the whole show's without zones)
        self.port = cfg.server.port if port is None else port
        self.server: PromptServer | None = None
        self.server_thread: ServerThread | None = None
        self.control: ShowControl | None = None
        self.warnings: WarningLog | None = None
        self.osc: OscControl | None = None
        self.osc_feedback: OscFeedback | None = None
        self.last_tick = time.monotonic()
        self._stop = threading.Event()
        self._brain: threading.Thread | None = None
        self.started = time.monotonic()

    def _director(self, zone: str, moderator: object) -> Director:
        """The Director of one zone ("": the whole show): its own queue, turns and attract mode."""
        cfg, bus, a = self.cfg, self.bus, self.cfg.attract
        director = Director(
            lambda event: bus.post(event, zone or None),
            None,
            None,
            moderator,
            cfg.director,
            attract=attract_mode(cfg, len(self.manifest.style_names)),
            default_strength=cfg.style.strength,
        )
        if a.enabled and a.source != "live":
            director.attract_source = a.source
        bus.modes[zone] = lambda: director.mode
        return director

    # -- what the panel and /metrics read ---------------------------------------------------------------
    def stats(self) -> dict:
        """The show as the nodes report it: frames summed, the slowest node's fps, the hub's target mix."""
        live = [n for n in self.bus.nodes() if n.health != "gone"]
        mix = self.bus.keeper.state.target
        return {
            "frames": sum(int(n.report.get("frames") or 0) for n in live),
            "fps": min((float(n.report.get("fps") or 0.0) for n in live), default=0.0),
            "errors": sum(int(n.report.get("errors") or 0) for n in live),
            "nodes": len(live),
            "mix": mix.named(self.manifest.style_names),
            "strength": mix.strength,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "backend": "cluster",
            "source": ", ".join(sorted({str(n.report.get("source")) for n in live})) or None,
        }

    def director_status(self) -> dict:
        """The default zone's Director's status, with prompts accepted, declined and waiting summed over zones."""
        statuses = [d.status() for d in self.directors.values()]
        out = dict(self.director.status())
        for key in ("accepted", "declined", "queue_length"):
            out[key] = sum(int(st.get(key) or 0) for st in statuses)
        return out

    def preview(self) -> np.ndarray | None:
        """The first live node's preview picture (RGB), for the panel."""
        import cv2

        for node in self.bus.nodes():
            jpeg = self.bus.preview(node.name) if node.health != "gone" else None
            if jpeg:
                bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if bgr is not None:
                    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return None

    def problems(self) -> list[str]:
        out = [f"render node {n.name} is gone" for n in self.bus.nodes() if n.health == "gone"]
        if not self.bus.connected:
            out.append(f"Redis at {self.bus.where} is unreachable")
        return out

    # -- parts ----------------------------------------------------------------------------------------------
    def _start_server(self) -> None:
        from installation.control.show_control import LoopView, ShowControl
        from installation.control.warning_log import WarningLog
        from installation.control.zone_control import ZoneControl
        from installation.ops.metrics import Metrics
        from installation.ops.supervision import Health
        from installation.prompts.zone_directors import ZoneDirectors
        from installation.server.prompt_server import PromptServer, ServerThread
        from installation.server.settings import ServerSettings

        cfg, s, bus = self.cfg, self.cfg.server, self.bus
        warnings = self.warnings = WarningLog()
        warnings.install()

        def zone_control(zone: str, director: Director) -> ShowControl:
            keeper = bus.keeper_of(zone)
            view = LoopView(
                post=lambda event: bus.post(event, zone or None),
                stats=self.stats,
                target=lambda: keeper.state.target,
                on_screen=self.preview,
                flags=lambda: {"blackout": keeper.state.blackout, "frozen": keeper.state.frozen},
                sources=("live", "generator") if cfg.attract.source == "generator" else (),
                selected_source=lambda: keeper.state.source,
            )
            control = ShowControl(
                view,
                director,
                self.manifest.style_names,
                cfg.resolve(cfg.operator.snapshot_dir),
                warnings,
                transition_s=cfg.style.transition_s,
                nodes=bus.nodes,
                node_preview=bus.preview,
            )
            director.is_pinned = lambda: control.pinned is not None
            return control

        controls = {zone: zone_control(zone, d) for zone, d in self.directors.items()}
        self.control = controls[bus.default_zone]
        panel: ShowControl | ZoneControl = self.control
        visitors: Director | ZoneDirectors = self.director
        if bus.zones:
            panel = ZoneControl(controls, labels=lambda zone: bus.keeper_of(zone).state.label)
            visitors = ZoneDirectors(self.directors)
        metrics = Metrics()
        hub = self

        class LiveMetrics:
            def render(self) -> tuple[bytes, str]:
                visitors = hub.server.connected_visitors if hub.server else 0
                metrics.update(hub.stats(), hub.director_status(), visitors)
                metrics.update_nodes(bus.nodes())
                if bus.zones:
                    metrics.update_zones({zone: d.status() for zone, d in hub.directors.items()})
                return metrics.render()

        settings = ServerSettings(
            **{
                **s.model_dump(),
                "port": self.port,
                "page_title": s.page_title or f"Laterna — {cfg.name}",
                "tls_cert": str(cfg.resolve(s.tls_cert)) if s.tls_cert else "",
                "tls_key": str(cfg.resolve(s.tls_key)) if s.tls_key else "",
            }
        )
        from installation.app import Installation

        server = self.server = PromptServer(
            visitors,
            settings,
            status_provider=lambda: {**self.stats(), "prompt": self.director.status().get("prompt")},
            operator_token=Installation.operator_token(self),  # type: ignore[arg-type]
            control=panel,  # type: ignore[arg-type]  # ZoneControl: ShowControl's reading and acting, per zone
            health=Health(lambda: self.last_tick, degraded=self.problems),
            metrics=LiveMetrics(),
        )
        thread = self.server_thread = ServerThread(server, background=[d.run for d in self.directors.values()])
        self.port = thread.start()
        log.info("hub: visitors at %s; decisions go to Redis at %s", server.url, bus.where)

    def _start_osc(self) -> None:
        from installation.control.osc import OscControl, OscFeedback, director_submitter

        o = self.cfg.osc
        assert self.server_thread is not None and self.server_thread.loop is not None
        bus, loop, names = self.bus, self.server_thread.loop, self.manifest.style_names

        def zone_osc(zone: str) -> OscControl:
            """/laterna/zone/<zone>/...: that zone's look and queue (the plain addresses act on every zone)."""
            keeper = bus.keeper_of(zone)
            submit = director_submitter(self.directors[zone].submit, loop)
            return OscControl(lambda event: bus.post(event, zone), names, lambda: keeper.state.target, submit)

        zones = {zone: zone_osc(zone) for zone in bus.zones}
        submit = director_submitter(self.director.submit, loop)
        self.osc = OscControl(bus.post, names, lambda: bus.keeper.state.target, submit, port=o.port, zones=zones)
        self.osc.start()
        if o.feedback_host:
            directors = self.directors
            feedback = self.osc_feedback = OscFeedback(
                o.feedback_host,
                o.feedback_port,
                self.stats,
                lambda: self.director.status().get("prompt"),
                zones=(lambda: {zone: d.status().get("prompt") for zone, d in directors.items()})
                if bus.zones
                else None,
            )
            feedback.start()
            self.bus.on_node_change.append(feedback.node_change)

    def _load_brain(self) -> None:
        from installation.prompts.interpreter import Interpreter

        try:
            self.embedder.load()
            d = self.cfg.director
            interp = Interpreter(self.embedder, list(self.manifest.styles), d.temperature, d.top_k)
            expander = build_expander(self.cfg, self.embedder)
        except Exception:
            log.exception("the prompt interpreter could not be loaded; visitors' prompts will wait")
            return

        async def install() -> None:
            for director in self.directors.values():
                director.set_interpreter(interp, expander)
            log.info("prompt interpreter ready (%d styles)", len(interp.names))

        coro = install()
        try:
            assert self.server_thread is not None
            self.server_thread.submit(coro)
        except (EngineError, RuntimeError, AssertionError) as exc:
            coro.close()
            log.info("the prompt interpreter was not installed: %s", exc)

    # -- run -------------------------------------------------------------------------------------------------
    def run(self, seconds: float | None = None) -> dict:
        try:
            self.bus.start()
            self._start_server()
            self._brain = threading.Thread(target=self._load_brain, name="laterna-brain")
            self._brain.start()
            if self.cfg.osc.enabled:
                self._start_osc()
            from installation.hub_reload import HubReloader

            reloader = HubReloader.start(self)  # the config file watched, as on one machine
            end = None if seconds is None else time.monotonic() + seconds
            while not self._stop.wait(0.2):
                self.last_tick = time.monotonic()
                if reloader is not None:
                    reloader.check()
                if end is not None and self.last_tick >= end:
                    break
            return self.summary()
        finally:
            self.close()

    def summary(self) -> dict:
        stats = self.stats()
        return {**stats, "dropped": 0, "role": "hub", "nodes": {n.name: n.health for n in self.bus.nodes()}}

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self.warnings is not None:
            self.warnings.uninstall()
        for part in (self.osc_feedback, self.osc, self.server_thread, self.bus):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %s", type(part).__name__)
        if self._brain is not None and self._brain.is_alive():
            self._brain.join(timeout=120.0)
