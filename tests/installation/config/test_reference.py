"""The generated JSON Schema and reference page: current, and true to the models."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from installation.config.reference import REFERENCE_FILE, json_schema, main, markdown
from installation.config.schema import PROJECT_ROOT, SCHEMA_FILE, ShowConfig

CONFIGS = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))


def test_schema_and_reference_are_current():
    """configs/laterna.schema.json and docs/config.md are what the models generate today."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema(), "run python -m installation.config.reference"
    assert REFERENCE_FILE.read_text(encoding="utf-8") == markdown(), "run python -m installation.config.reference"
    assert main(["--check"]) == 0


def _all_keys(model, prefix=""):
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            yield from _all_keys(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def test_reference_lists_every_key_with_type_default_and_meaning():
    """Every key of every section has a row in docs/config.md with a type, a default and a meaning."""
    rows = {line.split("|")[1].strip().strip("`"): line for line in markdown().splitlines() if line.startswith("| `")}
    for key, info in _all_keys(ShowConfig):
        assert key in rows, key
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[key])[1:-1]]  # "\|" is a pipe inside a cell
        assert len(cells) == 4 and all(cells), rows[key]
        assert info.description, f"{key} has no description"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_point_editors_at_the_schema_and_pass_it(path):
    """Each shipped config's first line is the yaml-language-server schema comment, and it validates."""
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=laterna.schema.json"
    assert (path.parent / "laterna.schema.json").is_file()
    jsonschema.validate(yaml.safe_load(path.read_text()) or {}, json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize(
    "data",
    [
        {"sauce": {}},
        {"source": {"type": "webcam"}},
        {"source": {"width": "640"}},
        {"display": {"fullscreen": "yes"}},
        {"pipeline": {"smoothing": 1.0}},
        {"director": {"expander": {"tpye": "http"}}},
    ],
)
def test_schema_refuses_what_the_loader_refuses(data):
    """The editor's schema flags unknown keys, wrong types and out-of-range values, like the loader."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))


def test_check_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    """`--check` exits 1 and names a generated file that no longer matches the models."""
    import installation.config.reference as reference

    stale = tmp_path / "config.md"
    stale.write_text("# an old page\n")
    monkeypatch.setattr(reference, "outputs", lambda: {Path(stale): markdown()})
    assert main(["--check"]) == 1 and str(stale) in capsys.readouterr().err
