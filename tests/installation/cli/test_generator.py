import argparse
import json

from engine.manifest import load_manifest
from installation.cli.generator import add_parser
from tests.conftest import SQUEEZENET, STYLES, needs_shared


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="laterna")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@needs_shared(STYLES, SQUEEZENET)
def test_train_then_export_a_generator_from_the_command_line(tmp_path, capsys):
    """train-generator leaves a checkpoint and samples; export-generator turns it into a verified generator model."""
    out = tmp_path / "run"
    assert (
        run(
            [
                "train-generator",
                "--images",
                str(STYLES),
                "--out",
                str(out),
                "--steps",
                "3",
                "--size",
                "16",
                "--batch-size",
                "4",
                "--latent-dim",
                "8",
                "--g-width",
                "16",
                "--d-width",
                "8",
                "--kid-every",
                "3",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["steps"] == 3 and trained["kid"]["step"] == 3
    assert (out / "samples.png").is_file() and (out / "kid.png").is_file()
    assert (
        run(
            [
                "export-generator",
                str(out / "checkpoint.pt"),
                "--out",
                str(tmp_path / "models"),
                "--name",
                "dream",
                "--docs",
                str(tmp_path / "docs"),
            ]
        )
        == 0
    )
    exported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert exported["parity"] is True
    manifest = load_manifest(tmp_path / "models" / "dream.json")
    assert manifest.kind == "generator" and manifest.extra["kid"]["final"]["step"] == 3
    assert manifest.extra["kid"]["real_vs_real"] is not None
    assert (tmp_path / "docs" / "dream_samples.png").is_file() and (tmp_path / "docs" / "dream_kid.png").is_file()


def test_defaults_train_on_the_shared_paintings_at_64_pixels():
    """Without options, train-generator uses the shared paintings, 64x64 and runs/generator."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-generator"])
    assert args.images == [str(STYLES)] and args.size == 64 and args.out == "runs/generator"
    args = parser.parse_args(["export-generator", "ckpt.pt"])
    assert (args.out, args.name, args.docs) == ("models", "generator", None)
