"""preflight: what a valid config gets wrong about this machine, found before anything opens."""

from pathlib import Path

import pytest

from engine.errors import ConfigError
from installation.config.preflight import check_runnable, load_runnable, preflight
from installation.config.schema import PROJECT_ROOT, config_from_dict, load_config


def _config(manifest, tmp_path: Path, **sections):
    base = {"source": {"type": "pattern"}, "model": {"manifest": str(manifest)}, "style": {"start": {"moss": 1.0}}}
    return config_from_dict({**base, **sections}, str(tmp_path / "show.yaml"), base=tmp_path)


def _corrupt(model_path: Path) -> None:
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_path.write_bytes(bytes(data))


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_pass(path):
    """Every shipped config names files that are here and intact, and styles its model knows."""
    assert preflight(load_config(path)) == []


def test_tiny_model_config_passes(tiny_model, tmp_path):
    """A config naming an intact model and one of its styles has nothing to report."""
    assert preflight(_config(tiny_model.path, tmp_path)) == []


def test_unknown_style_name_is_refused(tiny_model, tmp_path):
    """A style the model does not know (a typo like starry_nite) is named with the styles it does know."""
    problems = dict(preflight(_config(tiny_model.path, tmp_path, style={"start": {"starry_nite": 1.0}})))
    assert "'starry_nite'" in problems["style.start"] and "ink, ember, moss" in problems["style.start"]


def test_missing_and_corrupt_models_are_refused(model_copy, tmp_path):
    """A manifest that is not there, or a model whose sha256 no longer matches it, is a config problem."""
    missing = dict(preflight(_config(tmp_path / "nope.json", tmp_path)))
    assert "model.manifest" in missing and "not found" in missing["model.manifest"]
    _corrupt(model_copy.model_path)
    corrupt = dict(preflight(_config(model_copy.path, tmp_path)))
    assert "sha256 does not match" in corrupt["model.manifest"]


def test_every_problem_at_once_naming_the_file(model_copy, tmp_path):
    """A corrupt model, a missing slideshow folder, a missing block list and a missing generator: one error."""
    _corrupt(model_copy.model_path)
    cfg = _config(
        model_copy.path,
        tmp_path,
        source={"type": "slideshow", "path": "slides", "generator": "gan.json"},
        moderation={"blocklist": "words.txt"},
        attract={"source": "generator"},
    )
    with pytest.raises(ConfigError) as err:
        check_runnable(cfg)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'show.yaml'}: 4 problem(s)")
    for key in ("model.manifest", "source.path", "moderation.blocklist", "source.generator"):
        assert f"show.yaml: {key}: expected" in msg, key


def test_a_style_model_is_not_a_generator(tiny_model, tmp_path):
    """source.type generator with a style network's manifest is refused, saying why."""
    cfg = _config(tiny_model.path, tmp_path, source={"type": "generator", "generator": str(tiny_model.path)})
    assert "not 'generator'" in dict(preflight(cfg))["source.generator"]


def test_tls_files_must_be_there(tiny_model, tmp_path):
    """A TLS certificate and key the server would serve must exist."""
    cfg = _config(tiny_model.path, tmp_path, server={"tls_cert": "cert.pem", "tls_key": "key.pem"})
    problems = dict(preflight(cfg))
    assert str(tmp_path / "cert.pem") in problems["server.tls_cert"]
    assert str(tmp_path / "key.pem") in problems["server.tls_key"]


def test_file_problems_and_machine_problems_come_together(tmp_path):
    """A bad key and a missing model in one file are reported in one error, not one after the other."""
    path = tmp_path / "show.yaml"
    path.write_text("model: {manifest: gone.json}\ndisplay: {fit: stretch}\nstyle: {start: {starry_nite: 1}}\n")
    with pytest.raises(ConfigError) as err:
        load_runnable(path)
    msg = str(err.value)
    assert "2 problem(s)" in msg and "display.fit: expected" in msg and "model.manifest: expected" in msg
    assert str(tmp_path / "gone.json") in msg


def test_a_broken_section_is_not_checked_with_its_defaults(tmp_path):
    """A model section that fails validation is reported once, not again as the shipped model's styles."""
    path = tmp_path / "show.yaml"
    path.write_text("model: {sessions: 0}\nstyle: {start: {moss: 1}}\n")
    with pytest.raises(ConfigError) as err:
        load_runnable(path)
    assert "1 problem(s)" in str(err.value) and "model.sessions" in str(err.value)
