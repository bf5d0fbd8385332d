"""The base of every settings model: frozen, strict, unknown keys refused, every problem named at once.

Each component declares one ``Settings`` subclass beside itself (``installation/server/settings.py``,
``installation/prompts/settings.py``, ...); ``installation.config.schema.ShowConfig`` composes them into
the show config. The rules, the same for every key:

- types are strict: ``"1"`` is not a whole number, ``1`` is not ``true``; a whole number is a number;
- ranges sit on the field (``Field(ge=..., le=...)``), so the range is read where the field is;
- unknown keys are errors naming the keys that are allowed;
- a model built in code (``ServerSettings(port=70000)``) raises ``ConfigError`` naming the key.

``explain`` turns pydantic's errors into ``("dotted.key", "expected ..., got ...")`` pairs.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr, ValidationError, ValidationInfo
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from engine.errors import ConfigError


class Settings(BaseModel):
    """A frozen, strictly typed group of settings; a bad value raises ``ConfigError`` naming the key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            problems = "; ".join(f"{key}: {text}" for key, text in explain(exc, type(self)))
            raise ConfigError(f"{type(self).__name__}: {problems}") from None

    # Tell pydantic this is its own __init__, so nested validation (a section inside ShowConfig) keeps
    # collecting errors instead of calling this (pydantic's RootModel does the same).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


def related(key: str, expectation: str) -> PydanticCustomError:
    """An error about one field that depends on another (raise it from a model validator)."""
    return PydanticCustomError("related", "{key}: expected {what}", {"key": key, "what": expectation})


# -- paths ---------------------------------------------------------------------------------------------
def resolve_written(value: str, info: ValidationInfo) -> str:
    """A path written in a config file, made absolute against the file's folder (the ``base`` context)."""
    base = (info.context or {}).get("base")
    if not value or base is None or "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return value
    resolved = os.path.normpath(Path(base) / path)
    return resolved + "/" if value.endswith(("/", "\\")) else resolved  # "a new folder" survives


PathText = Annotated[StrictStr, AfterValidator(resolve_written)]
"""A file or folder path. Written in a config file: relative to that file's folder. Defaults: relative to
the project root (``ShowConfig.resolve``). Empty text means "not set"."""


# -- errors --------------------------------------------------------------------------------------------
_TYPES = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a section (mapping)",
    "model_attributes_type": "a section (mapping)",
}


def _field_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that holds the key at ``loc`` and that key's field (None where loc leaves the models)."""
    model: type[BaseModel] | None = root
    info: FieldInfo | None = None
    for i, part in enumerate(loc):
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return (model, None) if i == len(loc) else (None, None)
        info = model.model_fields[part]
        if i < len(loc) - 1:
            ann = info.annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model, info


def _section(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds: the model itself, or the item of a ``tuple[Model, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _section(args[0])
    return None


def model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings model of the section at ``loc`` (``()``: the root), or None. An index into a list of
    sections (``display.outputs[1]``) stays in that list's model."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) and model is not None:
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        model = _section(model.model_fields[part].annotation)
    return model


def bounds(info: FieldInfo) -> tuple[tuple[str, Any] | None, tuple[str, Any] | None]:
    """The field's (lower, upper) bounds as (operator, value) pairs."""
    low = high = None
    for meta in info.metadata:
        for attr, op in (("ge", ">="), ("gt", ">")):
            if getattr(meta, attr, None) is not None:
                low = (op, getattr(meta, attr))
        for attr, op in (("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                high = (op, getattr(meta, attr))
    return low, high


def range_text(low: tuple[str, Any] | None, high: tuple[str, Any] | None) -> str:
    """``from 16 to 7680``, ``> 0``, ``from 0 to below 1``."""
    if low and high:
        lo = f"from {low[1]}" if low[0] == ">=" else f"above {low[1]}"
        hi = (f"to {high[1]}" if low[0] == ">=" else f"up to {high[1]}") if high[0] == "<=" else f"to below {high[1]}"
        return f"{lo} {hi}"
    if low:
        return f"{low[0]} {low[1]}"
    if high:
        return f"{high[0]} {high[1]}"
    return ""


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def explain(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """``(dotted key, "expected ..., got ...")`` for every error pydantic collected, in file order."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        got = f", got {_got(err.get('input'))}"
        if kind == "related":
            loc, text = loc + (ctx["key"],), f"expected {ctx['what']}"
        elif kind == "extra_forbidden":
            section = model_at(root, loc[:-1])
            allowed = sorted(section.model_fields) if section is not None else []
            text = f"unknown key; expected one of {allowed}"
        elif kind in _TYPES:
            text = f"expected {_TYPES[kind]}{got}"
        elif kind == "literal_error":
            text = f"expected one of {ctx.get('expected', '')}{got}"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            _, info = _field_at(root, loc)
            low, high = bounds(info) if info is not None else (None, None)
            if low is None and high is None:  # a constraint inside a list or mapping: pydantic's context
                low = (">", ctx["gt"]) if "gt" in ctx else (">=", ctx["ge"]) if "ge" in ctx else None
                high = ("<", ctx["lt"]) if "lt" in ctx else ("<=", ctx["le"]) if "le" in ctx else None
            text = f"expected a number {range_text(low, high)}{got}"
        elif kind in ("too_short", "too_long"):
            text = f"expected {err['msg'].split('should have ', 1)[-1].split(' after', 1)[0]}{got}"
        elif kind == "value_error":
            text = str(err["msg"]).removeprefix("Value error, ")
        else:
            msg = str(err["msg"])
            text = msg if msg.startswith("expected") else f"expected: {msg}{got}"
        out.append((_dotted(loc), text))
    return out
