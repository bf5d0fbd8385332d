"""The show config: each component's settings model, composed; and the loader.

``load_config(path)`` reads YAML and validates it into a frozen ``ShowConfig``; every problem in the
file is reported at once in one ``ConfigError`` whose lines name the file, the dotted key and what was
expected. Each section's model lives beside the component it configures (``installation.server.settings``,
``installation.prompts.settings``, ``installation.control.settings``, ``installation.show_settings``).

Paths: a relative path written in a config file resolves against that file's folder (or the ``base``
given to ``config_from_dict``); a path left at its default resolves against the project root, where
``models/`` lives (``ShowConfig.resolve``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, StrictStr, ValidationError

from engine.errors import ConfigError
from installation.bus.settings import BusSettings
from installation.config.base import Settings, explain
from installation.control.settings import AttractSettings, HoursSettings, OscSettings
from installation.ndi_settings import NdiSettings
from installation.prompts.settings import DirectorSettings, ExpanderSettings, ModerationSettings
from installation.server.settings import KioskSettings, OperatorSettings, ServerSettings
from installation.server.stream_settings import StreamsSettings
from installation.show_settings import (
    DisplaySettings,
    ModelSettings,
    PipelineSettings,
    RecordSettings,
    SourceSettings,
    StyleSettings,
    display_key,
)
from installation.upscale_settings import UpscaleSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"
SCHEMA_FILE = PROJECT_ROOT / "configs" / "laterna.schema.json"


class ShowConfig(Settings):
    """A whole show: one section per component."""

    name: StrictStr = Field("laterna", description="the show's name (logs, page title)")
    source: SourceSettings = Field(default_factory=SourceSettings, description="where the pictures come from")
    model: ModelSettings = Field(default_factory=ModelSettings, description="the style network and its runtimes")
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings, description="working size and smoothing")
    style: StyleSettings = Field(default_factory=StyleSettings, description="the starting look and its glides")
    display: DisplaySettings = Field(default_factory=DisplaySettings, description="the projector window")
    upscale: UpscaleSettings = Field(
        default_factory=UpscaleSettings, description="output size and the enlargement from the working size"
    )
    record: RecordSettings = Field(default_factory=RecordSettings, description="recording what is shown")
    server: ServerSettings = Field(default_factory=ServerSettings, description="the visitor and operator port")
    director: DirectorSettings = Field(default_factory=DirectorSettings, description="pacing of visitors' prompts")
    moderation: ModerationSettings = Field(default_factory=ModerationSettings, description="prompts kept off the wall")
    attract: AttractSettings = Field(default_factory=AttractSettings, description="an empty room: wandering styles")
    hours: HoursSettings = Field(default_factory=HoursSettings, description="opening hours")
    operator: OperatorSettings = Field(default_factory=OperatorSettings, description="the operator panel")
    osc: OscSettings = Field(default_factory=OscSettings, description="Open Sound Control in and out")
    kiosk: KioskSettings = Field(default_factory=KioskSettings, description="a local touchscreen browser")
    streams: StreamsSettings = Field(
        default_factory=StreamsSettings, description="the live picture as streams (MJPEG, JPEG websocket, /xr)"
    )
    ndi: NdiSettings = Field(default_factory=NdiSettings, description="NDI out and NDI discovery")
    bus: BusSettings = Field(default_factory=BusSettings, description="one machine, or a hub and render nodes on Redis")
    _source_file: str = PrivateAttr("")

    @property
    def source_file(self) -> str:
        """The file this config came from ("" when built in code)."""
        return self._source_file

    def resolve(self, relative: str) -> Path:
        """A path from the config: absolute paths (those written in a file were made absolute against its
        folder when it loaded) as they are; relative ones (built-in defaults) against the project root."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else PROJECT_ROOT / p


# The names the rest of the code knew before the models moved beside their components.
SourceConfig, ModelConfig, PipelineConfig, StyleConfig = SourceSettings, ModelSettings, PipelineSettings, StyleSettings
DisplayConfig, RecordConfig, ServerConfig, ExpanderConfig = (
    DisplaySettings,
    RecordSettings,
    ServerSettings,
    ExpanderSettings,
)
DirectorConfig, ModerationConfig, AttractConfig, HoursConfig = (
    DirectorSettings,
    ModerationSettings,
    AttractSettings,
    HoursSettings,
)
OperatorConfig, KioskConfig, OscConfig = OperatorSettings, KioskSettings, OscSettings


def format_problems(origin: str, problems: list[tuple[str, str]]) -> str:
    """One message naming the file, then each problem on its own line as ``file: dotted.key: expected ...``."""
    lines = [f"  {origin}: {key}: {text}" for key, text in problems]
    return f"{origin}: {len(problems)} problem(s):\n" + "\n".join(lines)


Problem = tuple[str, str]  # (dotted key, "expected ..., got ...")


def validate_config(
    data: Any, origin: str = "config", base: str | Path | None = None
) -> tuple[ShowConfig, list[Problem]]:
    """The config and every problem in ``data``. With problems, the config holds the sections that
    validated and defaults for the rest (so ``laterna check`` can look further, at the models and files)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    context = {"base": str(base) if base is not None else None}
    try:
        cfg = ShowConfig.model_validate(data, context=context)
        problems: list[Problem] = []
    except ValidationError as exc:
        problems = [(display_key(key, data.get("display")), text) for key, text in explain(exc, ShowConfig)]
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        try:
            cfg = ShowConfig.model_validate({k: v for k, v in data.items() if k not in bad}, context=context)
        except ValidationError:  # nothing validates on its own: look no further than the defaults
            cfg = ShowConfig()
    cfg._source_file = origin
    return cfg, problems


def config_from_dict(data: Any, origin: str = "config", base: str | Path | None = None) -> ShowConfig:
    """Validate parsed YAML into a ``ShowConfig``, or raise one ``ConfigError`` naming every problem.
    Relative paths written in ``data`` resolve against ``base`` (``load_config`` passes the file's folder);
    without one they stay relative (to the project root)."""
    cfg, problems = validate_config(data, origin, base)
    if problems:
        raise ConfigError(format_problems(origin, problems))
    return cfg


def read_config_data(path: str | Path | None = None) -> tuple[Path, Any]:
    """The config file's path (default: configs/default.yaml) and its parsed YAML."""
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from exc
    try:
        return p, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def load_config(path: str | Path | None = None) -> ShowConfig:
    """Read and validate a YAML config file (default: configs/default.yaml)."""
    p, data = read_config_data(path)
    return config_from_dict(data, str(p), base=p.resolve().parent)
