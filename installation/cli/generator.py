"""``laterna train-generator`` and ``laterna export-generator``: the generator's two commands.

``add_parser(subparsers)`` adds both to the ``laterna`` command line.
"""

from __future__ import annotations

import argparse
import json
import logging

from installation.cli.training_data import PAINTINGS, SQUEEZENET, add_run_options, require_present

log = logging.getLogger(__name__)


def cmd_train_generator(args: argparse.Namespace) -> int:
    from exporters.gan_training import GanTrainer, GanTrainingConfig

    require_present(images=args.images)
    cfg = GanTrainingConfig(
        images=args.images,
        out_dir=args.out,
        loss_network=args.loss_network or "",
        steps=args.steps,
        size=args.size,
        batch_size=args.batch_size,
        latent_dim=args.latent_dim,
        g_width=args.g_width,
        d_width=args.d_width,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        seed=args.seed,
        threads=args.threads,
        max_minutes=args.minutes,
        kid_every=args.kid_every,
        sample_every=args.sample_every,
    )
    trainer = GanTrainer(cfg)
    summary = trainer.run(progress=not args.quiet)
    log.info(
        "trained %d steps in %.0f s; samples at %s, KID plot at %s",
        summary["steps"],
        summary["seconds"],
        trainer.out / "samples.png",
        trainer.out / "kid.png",
    )
    print(json.dumps({"checkpoint": str(trainer.checkpoint_path), **summary}))
    return 0


def cmd_export_generator(args: argparse.Namespace) -> int:
    from exporters.gan_export import export_generator

    manifest = export_generator(args.checkpoint, args.out, args.name, docs_dir=args.docs, force=args.force)
    print(
        json.dumps(
            {
                "manifest": str(manifest.path),
                "parity": manifest.extra["parity"]["passed"],
                "size_mb": manifest.extra["size_mb"],
                "kid": manifest.extra.get("kid", {}).get("final"),
            }
        )
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-generator`` and ``export-generator`` to the ``laterna`` sub-commands."""
    t = subparsers.add_parser(
        "train-generator",
        help="train a GAN on random crops of paintings (or any image folder)",
        description="Train a small GAN (hinge loss, spectral norm, DiffAugment, EMA of G) on "
        "random crops of the given images, measuring KID as it goes. Writes the "
        "checkpoint, samples.png and kid.png into --out; resumes from a checkpoint "
        "there.",
    )
    t.add_argument("--images", nargs="+", default=[str(PAINTINGS)], help="image folders or files")
    t.add_argument("--out", default="runs/generator", help="run folder: checkpoint, samples.png, kid.png")
    t.add_argument("--steps", type=int, default=16000, help="training steps")
    t.add_argument("--size", type=int, default=64, help="output side in pixels (a power of two)")
    t.add_argument("--batch-size", type=int, default=16, help="real crops (and fakes) per step")
    t.add_argument("--latent-dim", type=int, default=64, help="size of the latent vector z")
    t.add_argument("--g-width", type=int, default=128, help="generator channels at 4x4")
    t.add_argument("--d-width", type=int, default=24, help="discriminator channels in its first layer")
    t.add_argument("--lr-g", type=float, default=1e-4, help="generator learning rate")
    t.add_argument("--lr-d", type=float, default=4e-4, help="discriminator learning rate (faster than G's: TTUR)")
    t.add_argument("--minutes", type=float, default=0.0, help="stop after this much wall time (0 = no limit)")
    t.add_argument("--kid-every", type=int, default=1000, help="steps between KID measurements")
    t.add_argument("--sample-every", type=int, default=500, help="steps between sample grids")
    t.add_argument(
        "--loss-network",
        default=str(SQUEEZENET) if SQUEEZENET.is_file() else "",
        help="SqueezeNet .npz whose features KID is measured in ('' = no KID)",
    )
    add_run_options(t)
    t.set_defaults(func=cmd_train_generator)

    e = subparsers.add_parser(
        "export-generator",
        help="export a trained generator to ONNX with a parity check",
        description="Export the EMA generator of a train-generator checkpoint to ONNX with a "
        "parity check and write its manifest (training, KID, parity). Writes "
        "NAME.onnx and NAME.json into --out; existing files are never replaced "
        "without --force, and nothing is moved into place unless every step passed.",
    )
    e.add_argument("checkpoint", help="runs/generator/checkpoint.pt")
    e.add_argument("--out", default="models", help="folder to write NAME.onnx and NAME.json into")
    e.add_argument("--name", default="generator", help="file name stem of the outputs")
    e.add_argument("--docs", default=None, help="also write NAME_samples.png and NAME_kid.png into this folder")
    e.add_argument(
        "--force", action="store_true", help="replace existing outputs (a shipped manifest's training notes are lost)"
    )
    e.set_defaults(func=cmd_export_generator)
