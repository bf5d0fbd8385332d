"""The ``laterna`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from engine.errors import ConfigError, EngineError

log = logging.getLogger("laterna")

EX_CONFIG = 78  # sysexits.h: configuration error (systemd: RestartPreventExitStatus=78)
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")


# -- run -------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    # SIGTERM / SIGINT at any moment, start-up included: stop cleanly, write the stats, exit 0. The
    # handler only sets flags (it may run while the main thread holds any lock).
    signals: list[int] = []
    inst = None

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        if inst is not None:
            inst.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    from installation.app import Installation
    from installation.config.schema import load_config

    cfg = load_config(args.config)
    inst = Installation(cfg, headless=args.headless, port=args.port, server=False if args.no_server else None)
    if signals:
        inst.stop()
    show = inst.show
    source = getattr(show.source, "name", "") or type(show.source).__name__
    if getattr(show.source, "inputs", None):
        source += " (" + " | ".join(show.source.inputs) + ")"
    log.info("show %r: %s -> %s -> %s at %dx%d", cfg.name, source,
             show.stylizer.backend_name, ", ".join(type(s).__name__ for s in show.sinks), cfg.display.width,
             cfg.display.height)
    stats = inst.run(frames=args.frames, seconds=args.seconds)
    log.info("stopped after %d frames, %.1f fps, %d dropped, %d errors", stats["frames"], stats["fps"],
             stats["dropped"], stats["errors"])
    if args.stats_out:
        Path(args.stats_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.stats_out).write_text(json.dumps(stats, indent=2) + "\n")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from installation.cli.doctor import format_report, run_doctor

    checks = run_doctor(args.config)
    print(format_report(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_check(args: argparse.Namespace) -> int:
    from installation.config.schema import load_config

    cfg = load_config(args.config)
    from engine.manifest import load_manifest

    load_manifest(cfg.resolve(cfg.model.manifest)).verify_file()
    print(f"{cfg.source_file}: OK")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from installation.cli.devices import describe_devices

    print(describe_devices())
    return 0


# -- models ----------------------------------------------------------------------------------------
def cmd_train_style(args: argparse.Namespace) -> int:
    from exporters.style_training import StyleTrainer, StyleTrainingConfig

    cfg = StyleTrainingConfig(styles=args.styles, content=args.content, holdout=args.holdout, out_dir=args.out,
                              loss_network=args.loss_network, steps=args.steps, batch_size=args.batch_size,
                              crop=args.crop, lr=args.lr, style_weight=args.style_weight,
                              content_weight=args.content_weight, stability_weight=args.stability_weight,
                              seed=args.seed, threads=args.threads)
    if Path(args.loss_network).suffix != ".npz":
        cfg.content_layer, cfg.style_layers = "relu3_3", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    trainer = StyleTrainer(cfg)
    trainer.run(progress=not args.quiet)
    trainer.save_weights(Path(args.out) / "weights.pt")
    log.info("trained %d steps; contact sheet at %s", trainer.step, Path(args.out) / "preview.png")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from exporters.images import list_images
    from exporters.ship import export_style_model

    real = list_images(*args.real_images) if args.real_images else []
    variants = tuple(v for v in args.variants.split(",") if v)
    if args.johnson:
        from exporters.ship import export_johnson_model

        manifest = export_johnson_model(args.checkpoint, args.out, args.name, real)
    else:
        manifest = export_style_model(args.checkpoint, args.out, args.name, real, variants)
    if args.tensorrt:
        from exporters.tensorrt_build import build_engine

        engine = build_engine(manifest.model_path, manifest.model_path.with_suffix(".engine"), len(manifest.styles)
                              if manifest.style_input else 0, fp16=True,
                              timing_cache=manifest.model_path.with_suffix(".timing-cache"))
        manifest.extra.setdefault("variants", {})["tensorrt"] = {"file": engine.name}
        manifest.save()
    print(json.dumps({"manifest": str(manifest.path), "parity": manifest.extra.get("parity", {}).get("passed")}))
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from exporters.import_model import import_model

    rng = tuple(float(v) for v in args.range.split(",")) if args.range else None
    if rng is not None and len(rng) != 2:
        raise ConfigError(f"--range: expected LOW,HIGH such as 0,255, got {args.range!r}")
    manifest = import_model(args.model, args.name, rng)
    print(json.dumps(manifest.to_dict(), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from installation.bench.show import run_bench

    print(run_bench(quick=args.quick, seconds=args.seconds, model=args.model, tables=tuple(args.tables.split(","))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="laterna", description="Laterna: live AI-art projection steered by visitors.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the installation")
    r.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"))
    r.add_argument("--headless", action="store_true", help="no window, even if a display exists")
    r.add_argument("--frames", type=int, default=None, help="stop after N shown frames")
    r.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    r.add_argument("--stats-out", default=None, help="write live stats as JSON here on exit")
    r.add_argument("--port", type=int, default=None, help="visitor/operator port (overrides server.port; 0 = any free)")
    r.add_argument("--no-server", action="store_true", help="no visitor server (the picture only)")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="validate a config file (exit 78 if it is wrong)")
    c.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"))
    c.set_defaults(func=cmd_check)

    doc = sub.add_parser("doctor", help="check cameras, displays, GPU, models and ports, and say how to fix problems")
    doc.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"))
    doc.set_defaults(func=cmd_doctor)

    d = sub.add_parser("devices", help="cameras, displays and inference backends found on this machine")
    d.set_defaults(func=cmd_devices)

    t = sub.add_parser("train-style", help="train a multi-style network")
    t.add_argument("--styles", nargs="+", default=[str(SHARED / "styles")])
    t.add_argument("--content", nargs="+", default=[str(SHARED / "content" / "bsds500"), str(SHARED / "content" / "kodak")])
    t.add_argument("--holdout", nargs="*", default=[str(SHARED / "content" / "public_domain")])
    t.add_argument("--loss-network", default=str(SHARED / "weights" / "squeezenet1_0" / "squeezenet1_0_imagenet.npz"),
                   help="SqueezeNet .npz, or a torchvision VGG16/19 state dict (.pth)")
    t.add_argument("--out", default="runs/style")
    t.add_argument("--steps", type=int, default=8000)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--crop", type=int, default=192)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--style-weight", type=float, default=10.0)
    t.add_argument("--content-weight", type=float, default=1.0)
    t.add_argument("--stability-weight", type=float, default=2.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train_style)

    e = sub.add_parser("export", help="export a trained network to ONNX (+fp16/int8, TensorRT) with parity checks")
    e.add_argument("checkpoint")
    e.add_argument("--name", default="lantern")
    e.add_argument("--out", default="models")
    e.add_argument("--variants", default="fp16,int8")
    e.add_argument("--real-images", nargs="*", default=[str(SHARED / "content" / "public_domain")])
    e.add_argument("--johnson", action="store_true", help="the checkpoint is a pytorch/examples TransformerNet")
    e.add_argument("--tensorrt", action="store_true", help="also build a TensorRT engine (needs a GPU)")
    e.set_defaults(func=cmd_export)

    i = sub.add_parser("import-model", help="probe an ONNX model and write its manifest")
    i.add_argument("model")
    i.add_argument("--name", default=None)
    i.add_argument("--range", default=None, help="input pixel range LOW,HIGH (probed if omitted)")
    i.set_defaults(func=cmd_import_model)

    from installation.cli.generator import add_parser as add_generator_commands

    add_generator_commands(sub)

    b = sub.add_parser("bench", help="speed tables (model and end to end)")
    b.add_argument("--quick", action="store_true", help="fewer runs and sizes")
    b.add_argument("--seconds", type=float, default=6.0, help="seconds per end-to-end measurement")
    b.add_argument("--model", default=str(ROOT / "models" / "lantern.json"), help="manifest of the model to time")
    b.add_argument("--tables", default="model,e2e,turn,generator",
                   help="which tables: model, e2e, turn, generator (comma-separated)")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except ConfigError as exc:
        log.error("%s", exc)
        return EX_CONFIG
    except EngineError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
