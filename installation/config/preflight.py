"""What a valid config can still get wrong about the machine it runs on: files it names that are missing or
corrupt, style names its model does not know.

``preflight(cfg)`` lists every such problem as ``(dotted key, "expected ...")`` without opening a camera,
a window or a port; ``check_runnable(cfg)`` raises one ``ConfigError`` naming them all. ``load_runnable(path)``
reads a file and reports its schema problems and these together, at once; ``laterna check`` and
``laterna run`` both use it, so ``check`` passes exactly what ``run`` does not refuse.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import ConfigError, EngineError
from engine.manifest import Manifest, load_manifest
from installation.config.schema import Problem, ShowConfig, format_problems, read_config_data, validate_config


def _manifest(path: Path, key: str, problems: list[Problem], kind: str = "style") -> Manifest | None:
    """The manifest at ``path`` with its model file's sha256 checked; None (and a problem) otherwise."""
    try:
        manifest = load_manifest(path)
        if kind == "generator":
            from engine.sources.generator import check_generator_manifest

            check_generator_manifest(manifest)
        manifest.verify_file()
    except EngineError as exc:
        problems.append((key, f"expected a {kind} model's manifest with an intact model file: {exc}"))
        return None
    return manifest


def _needs_generator(cfg: ShowConfig) -> bool:
    s = cfg.source
    if s.type == "generator":
        return True
    live = s.type in ("auto", "camera", "video", "ndi")  # "auto" becomes the camera wherever one is plugged in
    return (live and s.fallback == "generator") or (cfg.attract.enabled and cfg.attract.source == "generator")


def _source(cfg: ShowConfig, problems: list[Problem]) -> None:
    s = cfg.source
    uses_path = s.type in ("video", "slideshow") or (
        s.type in ("auto", "camera", "video", "ndi") and s.fallback in ("video", "slideshow")
    )
    if uses_path:
        kind = s.type if s.type in ("video", "slideshow") else s.fallback
        path = cfg.resolve(s.path) if s.path else None
        if path is None:
            problems.append(("source.path", f"expected a file or folder for source.fallback {kind!r}"))
        elif kind == "video" and not path.is_file():
            problems.append(("source.path", f"expected a video file, {path} does not exist"))
        elif kind == "slideshow" and not path.is_dir():
            problems.append(("source.path", f"expected a folder of images, {path} does not exist"))
        elif kind == "slideshow":
            from engine.sources.slideshow import find_images

            if not find_images(path):
                problems.append(("source.path", f"expected a folder of images, {path} has none"))
    if _needs_generator(cfg):
        key = "source.generator"
        _manifest(cfg.resolve(s.generator), key, problems, kind="generator")


def _server(cfg: ShowConfig, problems: list[Problem]) -> None:
    s = cfg.server
    if not (s.enabled and s.tls_cert and s.tls_key):
        return
    cert, key = cfg.resolve(s.tls_cert), cfg.resolve(s.tls_key)
    for name, path in (("server.tls_cert", cert), ("server.tls_key", key)):
        if not path.is_file():
            problems.append((name, f"expected a PEM file, {path} does not exist"))
    if cert.is_file() and key.is_file():
        from installation.server.prompt_server import tls_context

        try:
            tls_context(str(cert), str(key))
        except EngineError as exc:
            problems.append(("server.tls_key", f"expected a certificate and key that load: {exc}"))


def preflight(cfg: ShowConfig) -> list[Problem]:
    """Every problem ``laterna run`` would refuse this config for, found without opening any device."""
    problems: list[Problem] = []
    manifest = _manifest(cfg.resolve(cfg.model.manifest), "model.manifest", problems)
    if manifest is not None:
        names = manifest.style_names
        unknown = sorted(set(cfg.style.start) - set(names))
        if unknown:
            problems.append(
                (
                    "style.start",
                    f"expected style names of this model ({', '.join(names)}), got unknown "
                    f"{', '.join(map(repr, unknown))}",
                )
            )
    _source(cfg, problems)
    if cfg.moderation.blocklist:
        from installation.prompts.moderation import load_blocklist

        try:
            load_blocklist(cfg.resolve(cfg.moderation.blocklist))
        except ConfigError as exc:
            problems.append(("moderation.blocklist", f"expected a readable block list: {exc}"))
    if cfg.hours.outside == "slide" and cfg.hours.slide and not cfg.resolve(cfg.hours.slide).is_file():
        problems.append(("hours.slide", f"expected an image file, {cfg.resolve(cfg.hours.slide)} does not exist"))
    _server(cfg, problems)
    return problems


def check_runnable(cfg: ShowConfig) -> None:
    """Raise one ``ConfigError`` naming the file and every key ``preflight`` finds wrong."""
    problems = preflight(cfg)
    if problems:
        raise ConfigError(format_problems(cfg.source_file or "config", problems))


def load_runnable(path: str | Path | None = None) -> ShowConfig:
    """Load a config file and check it against this machine; one ``ConfigError`` names every problem of
    both kinds. Sections that failed validation are not checked further (their defaults would mislead)."""
    p, data = read_config_data(path)
    origin = str(p)
    cfg, problems = validate_config(data, origin, base=p.resolve().parent)
    bad = {key.split(".", 1)[0].split("[", 1)[0] for key, _ in problems}
    if "model" in bad:
        bad.add("style")  # style names are checked against the model's
    problems += [(key, text) for key, text in preflight(cfg) if key.split(".", 1)[0] not in bad]
    if problems:
        raise ConfigError(format_problems(origin, problems))
    return cfg
