import argparse
import logging
import shutil

import pytest

from engine.manifest import load_manifest
from installation.cli.main import build_parser, main
from tests.conftest import parity_photo, save_tiny_checkpoint


def _errors(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_import_model_refuses_to_replace_a_shipped_manifest(tiny_model, tmp_path, caplog):
    """`laterna import-model` over an existing manifest exits nonzero naming the file and --force; bytes unchanged."""
    shutil.copy(tiny_model.model_path, tmp_path / "generator.onnx")
    shipped = tmp_path / "generator.json"
    shipped.write_text('{"training": "7,157 bytes of history"}\n')
    before = shipped.read_bytes()
    with caplog.at_level(logging.ERROR):
        assert main(["import-model", str(tmp_path / "generator.onnx")]) != 0
    assert str(shipped) in _errors(caplog) and "--force" in _errors(caplog)
    assert shipped.read_bytes() == before
    assert main(["import-model", str(tmp_path / "generator.onnx"), "--force"]) == 0
    assert load_manifest(shipped).kind == "style"


def test_export_refuses_existing_outputs_before_any_work(tmp_path, caplog):
    """`laterna export` into a folder holding NAME.json exits nonzero naming it and --force, writing nothing."""
    out = tmp_path / "models"
    out.mkdir()
    (out / "lantern.json").write_text("{}\n")
    ckpt = save_tiny_checkpoint(tmp_path / "weights.pt")
    with caplog.at_level(logging.ERROR):
        rc = main(
            ["export", str(ckpt), "--out", str(out), "--variants", "", "--real-images", str(parity_photo(tmp_path))]
        )
    assert rc != 0 and str(out / "lantern.json") in _errors(caplog) and "--force" in _errors(caplog)
    assert [p.name for p in out.iterdir()] == ["lantern.json"] and (out / "lantern.json").read_text() == "{}\n"


def test_export_writes_every_output_into_the_given_folder(tmp_path, capsys):
    """`laterna export --out DIR` puts the ONNX file, TorchScript, slim checkpoint and manifest there, nothing else."""
    ckpt = save_tiny_checkpoint(tmp_path / "weights.pt")
    out = tmp_path / "elsewhere"
    photo = parity_photo(tmp_path)
    assert (
        main(["export", str(ckpt), "--out", str(out), "--name", "tiny", "--variants", "", "--real-images", str(photo)])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.onnx", "tiny.pt", "tiny.torchscript.pt"]
    manifest = load_manifest(out / "tiny.json")
    manifest.verify_file()
    assert manifest.extra["parity"]["passed"] and '"parity": true' in capsys.readouterr().out


def test_export_generator_refuses_existing_outputs(tmp_path, caplog):
    """`laterna export-generator` exits nonzero naming an existing NAME.json and --force, before reading anything."""
    (tmp_path / "generator.json").write_text("{}\n")
    with caplog.at_level(logging.ERROR):
        rc = main(["export-generator", str(tmp_path / "not-read.pt"), "--out", str(tmp_path)])
    assert rc != 0 and str(tmp_path / "generator.json") in _errors(caplog) and "--force" in _errors(caplog)
    assert "not-read.pt" not in _errors(caplog)


def test_export_triton_writes_a_repository_and_refuses_to_overwrite_it(tiny_model, tmp_path, capsys, caplog):
    """`laterna export-triton` writes NAME/1/model.onnx and NAME/config.pbtxt; a second run without --force
    exits nonzero naming the files and --force, and leaves them as they were."""
    repo = tmp_path / "repo"
    args = ["export-triton", str(tiny_model.path), "--out", str(repo), "--name", "styles", "--instances", "2"]
    assert main(args) == 0
    assert '"repository"' in capsys.readouterr().out
    config = repo / "styles" / "config.pbtxt"
    assert (repo / "styles" / "1" / "model.onnx").is_file() and 'name: "styles"' in config.read_text()
    assert "count: 2" in config.read_text()
    config.write_text("tuned by hand\n")
    with caplog.at_level(logging.ERROR):
        assert main(args) != 0
    assert str(config) in _errors(caplog) and "--force" in _errors(caplog)
    assert config.read_text() == "tuned by hand\n"
    assert main([*args, "--force"]) == 0 and 'name: "styles"' in config.read_text()


def test_export_with_triton_refuses_an_existing_repository_before_any_work(tmp_path, caplog):
    """`laterna export --triton DIR` with DIR/NAME/config.pbtxt present exits nonzero before exporting anything."""
    repo = tmp_path / "repo"
    (repo / "lantern").mkdir(parents=True)
    (repo / "lantern" / "config.pbtxt").write_text("shipped\n")
    out = tmp_path / "models"
    ckpt = save_tiny_checkpoint(tmp_path / "weights.pt")
    with caplog.at_level(logging.ERROR):
        photo = str(parity_photo(tmp_path))
        rc = main(
            ["export", str(ckpt), "--out", str(out), "--variants", "", "--real-images", photo, "--triton", str(repo)]
        )
    assert rc != 0 and "config.pbtxt" in _errors(caplog) and "--force" in _errors(caplog)
    assert not out.exists() and (repo / "lantern" / "config.pbtxt").read_text() == "shipped\n"


def test_export_with_triton_writes_the_model_and_its_repository(tmp_path):
    """`laterna export --triton DIR` writes the usual outputs and a Triton repository of the same model file."""
    ckpt = save_tiny_checkpoint(tmp_path / "weights.pt")
    out, repo = tmp_path / "models", tmp_path / "repo"
    photo = parity_photo(tmp_path)
    argv = ["export", str(ckpt), "--out", str(out), "--name", "tiny", "--variants", "", "--real-images", str(photo)]
    assert main([*argv, "--triton", str(repo)]) == 0
    assert (repo / "tiny" / "1" / "model.onnx").is_file()
    sha = load_manifest(out / "tiny.json").sha256
    assert (
        f'key: "laterna_sha256"\n  value: {{ string_value: "{sha}" }}' in (repo / "tiny" / "config.pbtxt").read_text()
    )


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_subcommand_explains_itself_and_every_option(name):
    """Each subcommand's --help has a description, and every argument and option a help text."""
    parser = _subcommands()[name]
    assert parser.description, f"laterna {name} --help has no description"
    missing = [a.dest for a in parser._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not missing, f"laterna {name}: no help text for {missing}"


def test_the_top_level_options_have_help():
    """`laterna --help` has a description and a help text for every option."""
    parser = build_parser()
    assert parser.description
    assert all(a.help for a in parser._actions if not isinstance(a, argparse._HelpAction))


def test_run_treats_a_corrupt_model_and_a_missing_manifest_alike(model_copy, tmp_path, caplog):
    """`laterna run` refuses a corrupt model file and a missing manifest the same way: exit 78 naming the file."""
    data = bytearray(model_copy.model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.model_path.write_bytes(bytes(data))
    codes = []
    for manifest in (model_copy.path, tmp_path / "gone.json"):
        cfg = tmp_path / "show.yaml"
        cfg.write_text(f"source: {{type: pattern}}\nmodel: {{manifest: {manifest}}}\n")
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            codes.append(main(["run", str(cfg), "--headless", "--no-server", "--frames", "1"]))
        assert str(manifest) in _errors(caplog) and "model.manifest" in _errors(caplog)
    assert codes == [78, 78]
