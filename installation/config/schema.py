"""Kiosk config files -> typed, frozen objects, validated before anything opens.

``load_config(path)`` reads YAML and builds a ``ShowConfig``; every problem in the file is collected
and reported at once in one ``ConfigError`` whose lines name the file, the key and what was
expected. Unknown keys are errors too (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from engine.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


@dataclass(frozen=True)
class SourceConfig:
    type: Literal["auto", "camera", "video", "slideshow", "pattern", "generator"] = "auto"
    device: int | str = 0  # camera index, device path, or RTSP/HTTP URL
    path: str = ""  # video file or image folder
    width: int = 640
    height: int = 360
    fps: float = 30.0
    mirror: bool = False
    zoom: float = 1.0
    fallback: Literal["pattern", "slideshow", "video", "generator", "none"] = "pattern"
    stale_after_s: float = 2.0
    slide_seconds: float = 8.0
    seed: int = 0
    generator: str = "models/generator.json"  # for type/fallback "generator": the generator's manifest
    walk_speed: float = 1.0
    walk_amplitude: float = 1.0
    audio: bool = False  # the generator's walk speeds up with the room's loudness and onsets (needs a microphone)
    crossfade_s: float = 1.5  # switching to and from the fallback (and attract mode's generator) dissolves


@dataclass(frozen=True)
class ModelConfig:
    manifest: str = "models/lantern.json"
    backends: tuple[Literal["onnxruntime", "tensorrt", "torch"], ...] = ("onnxruntime",)
    providers: tuple[Literal["tensorrt", "cuda", "cpu"], ...] = ("cpu",)
    device: str = "cpu"
    threads: int = 1
    sessions: int = 2
    fp16: bool = False
    engine: str = ""


@dataclass(frozen=True)
class PipelineConfig:
    width: int = 640
    height: int = 360
    workers: int = 2
    smoothing: float = 0.5
    motion_threshold: float = 12.0
    frame_budget_ms: float = 500.0


@dataclass(frozen=True)
class StyleConfig:
    start: dict[str, float] = field(default_factory=lambda: {"starry_night": 1.0})
    strength: float = 1.0
    transition_s: float = 3.0
    easing: Literal["linear", "smoothstep", "ease-in-out"] = "smoothstep"


@dataclass(frozen=True)
class DisplayConfig:
    type: Literal["auto", "window", "headless"] = "auto"
    monitor: int = 0
    fullscreen: bool = False
    width: int = 640
    height: int = 360
    fps: float = 30.0
    fit: Literal["letterbox", "fill"] = "letterbox"
    keystone: tuple[tuple[float, float], ...] = ()
    hide_cursor: bool = True
    vsync: bool = True
    stats_overlay: bool = False


@dataclass(frozen=True)
class RecordConfig:
    path: str = ""  # a video file (.mp4/.avi) or a folder for numbered PNGs; empty = off
    every_n: int = 1


@dataclass(frozen=True)
class ServerConfig:
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8765
    public_url: str = ""  # the address visitors type or scan; derived from the host's address if empty
    join_hint: bool = True  # show the page's address and a QR code on the projection
    max_connections: int = 200
    max_connections_per_address: int = 8
    idle_timeout_s: float = 300.0
    origins: tuple[str, ...] = ()  # allowed Origin headers; empty = any
    log_addresses: bool = False  # privacy: client addresses are not logged unless this is set
    resume_grace_s: float = 120.0  # a phone that drops its connection keeps its waiting prompt this long (0: off)
    tls_cert: str = ""  # PEM certificate and key: https/wss, so phones may use their microphone (Web Speech)
    tls_key: str = ""


@dataclass(frozen=True)
class ExpanderConfig:
    type: Literal["offline", "http", "transformers", "none"] = "offline"
    url: str = ""  # OpenAI-compatible endpoint (llama.cpp server, Ollama)
    model: str = ""
    model_dir: str = ""  # a local transformers causal LM
    timeout_s: float = 2.0


@dataclass(frozen=True)
class DirectorConfig:
    min_show_s: float = 20.0
    max_queue: int = 50
    max_age_s: float = 600.0
    temperature: float = 0.05
    top_k: int = 3
    expander: ExpanderConfig = ExpanderConfig()


@dataclass(frozen=True)
class ModerationConfig:
    blocklist: str = ""  # a file of extra blocked words/phrases, one per line
    block: tuple[str, ...] = ()  # extra blocked words/phrases
    default_list: bool = True  # the shipped English list
    semantic: bool = True  # also refuse prompts close in meaning to blocked concepts (on: measured, issue 13)
    concepts: tuple[str, ...] = ()  # empty: the shipped list, installation/prompts/data/concepts_en.txt
    threshold: float = 0.5


@dataclass(frozen=True)
class AttractConfig:
    enabled: bool = True
    idle_s: float = 90.0
    every_s: float = 25.0
    transition_s: float = 10.0
    source: Literal["live", "generator"] = "live"  # "generator": nobody there -> the GAN dreams (crossfade)


@dataclass(frozen=True)
class HoursConfig:
    schedule: dict[str, str] = field(default_factory=dict)  # {"mon-fri": "10:00-18:00"}; empty = always open
    outside: Literal["blackout", "slide"] = "blackout"
    slide: str = ""


@dataclass(frozen=True)
class OperatorConfig:
    token_file: str = ""  # else the token comes from $LATERNA_OPERATOR_TOKEN
    snapshot_dir: str = "snapshots"


@dataclass(frozen=True)
class KioskConfig:
    """A local touchscreen showing the visitor page in a full-screen browser beside the projection."""

    browser: bool = False
    command: str = "chromium"
    window_x: int = 0  # where the browser window goes: the touchscreen's position on the desktop
    window_y: int = 0


@dataclass(frozen=True)
class OscConfig:
    enabled: bool = False
    port: int = 9000
    feedback_host: str = ""  # send state out to this address (empty = off)
    feedback_port: int = 9001


@dataclass(frozen=True)
class ShowConfig:
    name: str = "laterna"
    source: SourceConfig = SourceConfig()
    model: ModelConfig = ModelConfig()
    pipeline: PipelineConfig = PipelineConfig()
    style: StyleConfig = StyleConfig()
    display: DisplayConfig = DisplayConfig()
    record: RecordConfig = RecordConfig()
    server: ServerConfig = ServerConfig()
    director: DirectorConfig = DirectorConfig()
    moderation: ModerationConfig = ModerationConfig()
    attract: AttractConfig = AttractConfig()
    hours: HoursConfig = HoursConfig()
    operator: OperatorConfig = OperatorConfig()
    osc: OscConfig = OscConfig()
    kiosk: KioskConfig = KioskConfig()
    source_file: str = ""  # the file this config came from (set by the loader, not a config key)

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the project root (where configs/ and models/ live)."""
        p = Path(relative)
        return p if p.is_absolute() else PROJECT_ROOT / p


# -- generic typed builder -----------------------------------------------------------------------
_BAD = object()  # marks a value that failed conversion (its error is already recorded)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is dict:
        return "a mapping of name: number"
    if dataclasses.is_dataclass(tp):
        return "a section (mapping)"
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"{key}: expected {_describe(tp)}, got {value!r}")
            return _BAD
        return _build(tp, value, key, errors)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            sub: list[str] = []
            out = _convert(value, arg, key, sub)
            if not sub:
                return out
    elif origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, list):
            inner = args[0]
            items = [_convert(v, inner, f"{key}[{i}]", errors) for i, v in enumerate(value)]
            return _BAD if _BAD in items else tuple(items)
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value) and value is not None:
            out = {k: _convert(v, typing.get_args(tp)[1], f"{key}.{k}", errors) for k, v in value.items()}
            return _BAD if _BAD in out.values() else out
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    errors.append(f"{key}: expected {_describe(tp)}, got {value!r}")
    return _BAD


def _build(cls: type, data: dict, prefix: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source_file"}
    for key in data:
        if key not in names:
            errors.append(f"{prefix + '.' if prefix else ''}{key}: unknown key; expected one of {sorted(names)}")
    kwargs = {}
    for name in names:
        if name in data:
            value = _convert(data[name], hints[name], f"{prefix}.{name}" if prefix else name, errors)
            if value is not _BAD:
                kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        errors.append(f"{prefix or 'config'}: {exc}")
        return None


def _check_ranges(cfg: ShowConfig, errors: list[str]) -> None:
    def need(cond: bool, key: str, what: str) -> None:
        if not cond:
            errors.append(f"{key}: expected {what}")

    for sec, w, h in (("source", cfg.source.width, cfg.source.height), ("pipeline", cfg.pipeline.width, cfg.pipeline.height),
                      ("display", cfg.display.width, cfg.display.height)):
        need(16 <= w <= 7680, f"{sec}.width", f"a width between 16 and 7680, got {w}")
        need(16 <= h <= 4320, f"{sec}.height", f"a height between 16 and 4320, got {h}")
    need(0 < cfg.source.fps <= 240, "source.fps", f"frames per second between 0 and 240, got {cfg.source.fps}")
    need(0 <= cfg.display.fps <= 240, "display.fps", f"0 (unthrottled) to 240, got {cfg.display.fps}")
    need(0 <= cfg.style.strength <= 1, "style.strength", f"a number from 0 to 1, got {cfg.style.strength}")
    need(cfg.style.transition_s >= 0, "style.transition_s", f"seconds >= 0, got {cfg.style.transition_s}")
    need(all(v >= 0 for v in cfg.style.start.values()), "style.start", "non-negative weights")
    need(0 <= cfg.pipeline.smoothing < 1, "pipeline.smoothing", f"0 (off) to below 1, got {cfg.pipeline.smoothing}")
    need(1 <= cfg.pipeline.workers <= 8, "pipeline.workers", f"1 to 8 inference threads, got {cfg.pipeline.workers}")
    need(cfg.pipeline.frame_budget_ms > 0, "pipeline.frame_budget_ms", "a positive time budget")
    need(1 <= cfg.model.sessions <= 8, "model.sessions", f"1 to 8 sessions, got {cfg.model.sessions}")
    need(cfg.model.threads >= 0, "model.threads", "0 (runtime default) or more threads")
    need(len(cfg.model.backends) >= 1, "model.backends", "at least one backend")
    need(1 <= cfg.server.port <= 65535 or cfg.server.port == 0, "server.port", f"a TCP port, got {cfg.server.port}")
    need(cfg.record.every_n >= 1, "record.every_n", "1 or more")
    need(cfg.director.min_show_s >= 0, "director.min_show_s", "seconds >= 0")
    need(1 <= cfg.director.max_queue <= 10000, "director.max_queue", "1 to 10000 prompts")
    need(cfg.director.temperature > 0, "director.temperature", "a positive softmax temperature")
    need(cfg.director.expander.type != "http" or bool(cfg.director.expander.url), "director.expander.url",
         "an OpenAI-compatible endpoint URL for expander type 'http'")
    need(cfg.director.expander.type != "transformers" or bool(cfg.director.expander.model_dir),
         "director.expander.model_dir", "a local model folder for expander type 'transformers'")
    need(0 < cfg.moderation.threshold <= 1, "moderation.threshold", "a similarity between 0 and 1")
    need(cfg.attract.idle_s > 0 and cfg.attract.every_s > 0, "attract", "positive idle_s and every_s")
    need(0 <= cfg.source.crossfade_s <= 30, "source.crossfade_s", f"0 (a cut) to 30 seconds, got {cfg.source.crossfade_s}")
    need(cfg.hours.outside != "slide" or bool(cfg.hours.slide), "hours.slide", "an image file for outside: slide")
    need(1 <= cfg.server.max_connections_per_address <= cfg.server.max_connections, "server.max_connections_per_address",
         "1 to server.max_connections")
    need(bool(cfg.server.tls_cert) == bool(cfg.server.tls_key), "server.tls_key",
         "both tls_cert and tls_key (https) or neither (http)")
    need(0 <= cfg.server.resume_grace_s <= 3600, "server.resume_grace_s", "0 (off) to 3600 seconds")
    need(1 <= cfg.osc.port <= 65535 or cfg.osc.port == 0, "osc.port", f"a UDP port, got {cfg.osc.port}")
    if cfg.hours.schedule:
        from installation.control.schedule import OpeningHours

        try:
            OpeningHours(cfg.hours.schedule)
        except ConfigError as exc:
            errors.append(f"hours.schedule: {exc}")
    need(1 <= cfg.source.zoom <= 8, "source.zoom", f"a zoom from 1 to 8, got {cfg.source.zoom}")
    ks = cfg.display.keystone
    need(len(ks) in (0, 4) and all(len(p) == 2 for p in ks), "display.keystone",
         "four [x, y] corners (top-left, top-right, bottom-right, bottom-left) in 0..1")
    need(cfg.source.type not in ("video", "slideshow") or bool(cfg.source.path), "source.path",
         f"a file or folder for source type {cfg.source.type!r}")


def config_from_dict(data: Any, origin: str = "config") -> ShowConfig:
    errors: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    cfg = _build(ShowConfig, data, "", errors)
    if cfg is not None:
        _check_ranges(cfg, errors)
    if errors:
        raise ConfigError(f"{origin}: {len(errors)} problem(s):\n" + "\n".join(f"  {origin}: {e}" for e in errors))
    return dataclasses.replace(cfg, source_file=origin)


def load_config(path: str | Path | None = None) -> ShowConfig:
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return config_from_dict(data, str(p))
