"""The ``laterna`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from engine.errors import ConfigError, EngineError
from installation.cli.training_data import PAINTINGS, PHOTOS, SHARED, SQUEEZENET, add_run_options, require_present

log = logging.getLogger("laterna")

EX_CONFIG = 78  # sysexits.h: configuration error (systemd: RestartPreventExitStatus=78)
ROOT = Path(__file__).resolve().parents[2]
CONFIG_HELP = "the show's config YAML file (default: configs/default.yaml)"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


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
    from engine.atomic_file import write_atomic
    from engine.sources.base import find_first
    from engine.sources.crossfade import SwitchSource
    from installation.app import Installation
    from installation.config.preflight import load_runnable

    cfg = load_runnable(args.config)  # bad keys, missing or corrupt models, unknown styles: all at once (exit 78)
    if cfg.bus.role == "hub":
        return _run_hub(cfg, args, signals)
    inst = Installation(cfg, headless=args.headless, port=args.port, server=False if args.no_server else None)
    if signals:
        inst.stop()
    show = inst.show
    source = getattr(show.source, "name", "") or type(show.source).__name__
    switch = find_first(show.source, SwitchSource)
    if switch is not None:
        source += " (" + " | ".join(switch.inputs) + ")"
    log.info(
        "show %r: %s -> %s -> %s at %dx%d",
        cfg.name,
        source,
        show.stylizer.backend_name,
        ", ".join(type(s).__name__ for s in show.sinks),
        *cfg.display.canvas_size,
    )
    stats = inst.run(frames=args.frames, seconds=args.seconds)
    log.info(
        "stopped after %d frames, %.1f fps, %d dropped, %d errors",
        stats["frames"],
        stats["fps"],
        stats["dropped"],
        stats["errors"],
    )
    if args.stats_out:
        Path(args.stats_out).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.stats_out, json.dumps(stats, indent=2) + "\n")
    return 0


def _run_hub(cfg, args: argparse.Namespace, signals: list[int]) -> int:
    """``bus.role: hub``: visitors, Director, panel, OSC; no frame loop (installation.hub)."""
    from engine.atomic_file import write_atomic
    from installation.hub import HubInstallation

    hub = HubInstallation(cfg, port=args.port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: hub.stop())
    if signals:
        hub.stop()
    stats = hub.run(seconds=args.seconds)
    log.info("hub stopped; nodes: %s", stats["nodes"] or "none seen")
    if args.stats_out:
        Path(args.stats_out).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.stats_out, json.dumps(stats, indent=2) + "\n")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from installation.calibration import run_calibration

    run_calibration(args.config, mesh_size=args.mesh)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from installation.cli.doctor import format_report, run_doctor

    checks = run_doctor(args.config)
    print(format_report(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_check(args: argparse.Namespace) -> int:
    """Every file, every problem that ``run`` would refuse, at once; exit 78 if any file has one."""
    from installation.config.preflight import load_runnable

    failed = []
    for path in args.configs:
        try:
            cfg = load_runnable(path)
        except ConfigError as exc:
            failed.append(str(exc))
            continue
        print(f"{cfg.source_file}: OK")
    if failed:
        raise ConfigError("\n".join(failed))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from installation.cli.devices import describe_devices

    print(describe_devices())
    return 0


# -- models ----------------------------------------------------------------------------------------
def cmd_train_style(args: argparse.Namespace) -> int:
    from exporters.style_training import StyleTrainer, StyleTrainingConfig

    require_present(styles=args.styles, content=args.content, holdout=args.holdout, loss_network=args.loss_network)
    cfg = StyleTrainingConfig(
        styles=args.styles,
        content=args.content,
        holdout=args.holdout,
        out_dir=args.out,
        loss_network=args.loss_network,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        stability_weight=args.stability_weight,
        seed=args.seed,
        threads=args.threads,
    )
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
    from exporters.staging import refuse_overwrite

    require_present(real_images=args.real_images)
    real = list_images(*args.real_images) if args.real_images else []
    variants = tuple(v for v in args.variants.split(",") if v)
    if args.tensorrt:  # the engine is built after the export, beside it: refuse before any work
        refuse_overwrite(
            [Path(args.out) / f"{args.name}.engine", Path(args.out) / f"{args.name}.timing-cache"], args.force
        )
    if args.triton:  # the repository is written after the export: refuse before any work
        from exporters.triton_repo import repository_files

        triton_files = repository_files(args.name, 1, args.tensorrt)
        refuse_overwrite([Path(args.triton) / f for f in triton_files], args.force, "--triton DIR to write elsewhere")
    if args.johnson:
        from exporters.ship import export_johnson_model

        manifest = export_johnson_model(args.checkpoint, args.out, args.name, real, force=args.force)
    else:
        manifest = export_style_model(args.checkpoint, args.out, args.name, real, variants, force=args.force)
    if args.tensorrt:
        from exporters.tensorrt_build import build_engine

        engine = build_engine(
            manifest.model_path,
            manifest.model_path.with_suffix(".engine"),
            len(manifest.styles) if manifest.style_input else 0,
            fp16=True,
            timing_cache=manifest.model_path.with_suffix(".timing-cache"),
        )
        manifest.extra.setdefault("variants", {})["tensorrt"] = {"file": engine.name}
        manifest.save()
    if args.triton:
        from exporters.triton_repo import write_triton_repository

        write_triton_repository(manifest, args.triton, force=args.force)
    print(json.dumps({"manifest": str(manifest.path), "parity": manifest.extra.get("parity", {}).get("passed")}))
    return 0


def cmd_export_triton(args: argparse.Namespace) -> int:
    from engine.manifest import load_manifest
    from exporters.triton_repo import TritonRepoOptions, write_triton_repository

    options = TritonRepoOptions(
        version=args.version,
        max_batch_size=args.max_batch_size,
        max_queue_delay_us=args.queue_delay_us,
        instances=args.instances,
        kind=f"KIND_{args.kind.upper()}",
    )
    files = write_triton_repository(load_manifest(args.manifest), args.out, options, args.name, force=args.force)
    print(json.dumps({"repository": str(args.out), "files": [str(f) for f in files]}))
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from exporters.import_model import import_model

    rng = tuple(float(v) for v in args.range.split(",")) if args.range else None
    if rng is not None and len(rng) != 2:
        raise ConfigError(f"--range: expected LOW,HIGH such as 0,255, got {args.range!r}")
    manifest = import_model(args.model, args.name, rng, out=args.out, force=args.force)
    print(json.dumps(manifest.to_dict(), indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from installation.bench.show import run_bench

    print(run_bench(quick=args.quick, seconds=args.seconds, model=args.model, tables=tuple(args.tables.split(","))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="laterna", description="Laterna: live AI-art projection steered by visitors.")
    p.add_argument("-v", "--verbose", action="store_true", help="log DEBUG messages too")
    sub = p.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="one of the commands below; `laterna COMMAND --help` explains each",
    )

    r = sub.add_parser(
        "run",
        help="run the installation",
        description="Run the show a config describes: source -> style model -> windows and streams, "
        "with the visitor and operator pages. The config and the models it names are "
        "checked first, as `laterna check` does (exit 78 if wrong).",
    )
    r.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"), help=CONFIG_HELP)
    r.add_argument("--headless", action="store_true", help="no window, even if a display exists")
    r.add_argument("--frames", type=int, default=None, help="stop after N shown frames")
    r.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    r.add_argument("--stats-out", default=None, help="write live stats as JSON here on exit")
    r.add_argument("--port", type=int, default=None, help="visitor/operator port (overrides server.port; 0 = any free)")
    r.add_argument("--no-server", action="store_true", help="no visitor server (the picture only)")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser(
        "check",
        help="validate config files as `run` would, models included (exit 78 if wrong)",
        description="Validate config files as `laterna run` would, including the models and files they "
        "name, and list every problem at once; exit 78 if any file has one.",
    )
    c.add_argument(
        "configs",
        nargs="*",
        default=[str(ROOT / "configs" / "default.yaml")],
        metavar="config",
        help="show config YAML files (default: configs/default.yaml)",
    )
    c.set_defaults(func=cmd_check)

    cal = sub.add_parser(
        "calibrate",
        help="line up the projectors: test pattern, corners and mesh points, saved into the config",
        description="Show a test pattern (grid, colour bars, blend ramps, numbers) on every projector the "
        "config names; move corners and mesh points with the arrow keys or the mouse; `s` saves "
        "them into the config (the old file kept as CONFIG.bak). Keys: Tab projector, m corners/mesh, "
        "arrows move (Shift 10x), n/p point, +/- mesh size, r reset, s save, Esc quit.",
    )
    cal.add_argument("config", help=CONFIG_HELP)
    cal.add_argument("--mesh", type=int, default=5, help="mesh size for projectors without one (5: 5x5 points)")
    cal.set_defaults(func=cmd_calibrate)

    doc = sub.add_parser(
        "doctor",
        help="check cameras, displays, GPU, models and ports, and say how to fix problems",
        description="Is this machine ready for this show? Checks the config, camera, display (and "
        "that the configured size fits the screen), GPU, models, ports, TLS and "
        "microphone, and says how to fix each problem; exit 1 if any check fails.",
    )
    doc.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.yaml"), help=CONFIG_HELP)
    doc.set_defaults(func=cmd_doctor)

    d = sub.add_parser(
        "devices",
        help="cameras, displays and inference backends found on this machine",
        description="List the cameras, displays (with their sizes) and inference backends found on "
        "this machine, to fill in a config.",
    )
    d.set_defaults(func=cmd_devices)

    t = sub.add_parser(
        "train-style",
        help="train a multi-style network",
        description="Train one LanternNet that holds every style image as a style (conditional "
        "instance norm), with a perceptual loss from a small loss network. Writes "
        "weights.pt, checkpoints and a preview contact sheet into --out.",
    )
    t.add_argument("--styles", nargs="+", default=[str(PAINTINGS)], help="style images or folders of them")
    t.add_argument(
        "--content",
        nargs="+",
        default=[str(SHARED / "content" / "bsds500"), str(SHARED / "content" / "kodak")],
        help="content photo folders to train on",
    )
    t.add_argument(
        "--holdout",
        nargs="*",
        default=[str(PHOTOS)],
        help="photos never trained on, used for the preview",
    )
    t.add_argument(
        "--loss-network",
        default=str(SQUEEZENET),
        help="SqueezeNet .npz, or a torchvision VGG16/19 state dict (.pth)",
    )
    t.add_argument("--out", default="runs/style", help="run folder: checkpoints, weights.pt, preview.png")
    t.add_argument("--steps", type=int, default=8000, help="training steps")
    t.add_argument("--batch-size", type=int, default=4, help="crops per step")
    t.add_argument("--crop", type=int, default=192, help="side of the square training crops in pixels")
    t.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    t.add_argument("--style-weight", type=float, default=10.0, help="weight of the style (Gram) loss")
    t.add_argument("--content-weight", type=float, default=1.0, help="weight of the content (feature) loss")
    t.add_argument(
        "--stability-weight",
        type=float,
        default=2.0,
        help="weight of the loss that keeps a slightly moved frame looking the same (less flicker)",
    )
    add_run_options(t)
    t.set_defaults(func=cmd_train_style)

    e = sub.add_parser(
        "export",
        help="export a trained network to ONNX (+fp16/int8, TensorRT) with parity checks",
        description="Export a trained checkpoint to ONNX with a parity check against PyTorch, plus "
        "TorchScript, a slim checkpoint and fp16/int8 variants, and write the manifest. "
        "Writes NAME.* into --out; existing files there are never replaced without "
        "--force, and nothing is moved into place unless every step passed.",
    )
    e.add_argument(
        "checkpoint",
        help="a train-style checkpoint (runs/style/weights.pt) or, with --johnson, a fast_neural_style .pth",
    )
    e.add_argument("--name", default="lantern", help="file name stem of the outputs: NAME.onnx, NAME.json ...")
    e.add_argument("--out", default="models", help="folder to write the outputs into")
    e.add_argument(
        "--variants",
        default="fp16,int8",
        help="reduced-precision variants, comma-separated (fp16, int8; empty for none)",
    )
    e.add_argument(
        "--real-images",
        nargs="*",
        default=[str(PHOTOS)],
        help="photos (or folders) for the parity checks and int8 calibration",
    )
    e.add_argument("--johnson", action="store_true", help="the checkpoint is a pytorch/examples TransformerNet")
    e.add_argument("--tensorrt", action="store_true", help="also build a TensorRT engine (needs a GPU)")
    e.add_argument(
        "--triton",
        metavar="DIR",
        default=None,
        help="also write a Triton model repository into DIR (see `laterna export-triton`)",
    )
    e.add_argument("--force", action="store_true", help="replace existing NAME.* files in --out")
    e.set_defaults(func=cmd_export)

    et = sub.add_parser(
        "export-triton",
        help="write a Triton Inference Server model repository for an exported model",
        description="Write a Triton model repository for a model Laterna exported: NAME/VERSION/model.onnx "
        "and NAME/config.pbtxt (inputs, outputs and dims from the manifest, dynamic batching so "
        "frames from several render nodes share one pass, instance groups, version policy), plus "
        "NAME_trt/ with the TensorRT plan when the manifest lists one. Existing files are never "
        "replaced without --force.",
    )
    et.add_argument(
        "manifest", nargs="?", default=str(ROOT / "models" / "lantern.json"), help="the model's JSON manifest"
    )
    et.add_argument(
        "--out", default="models/triton", help="the model repository folder (tritonserver --model-repository)"
    )
    et.add_argument("--name", default=None, help="the model's name on the server (default: the manifest's name)")
    et.add_argument("--version", type=int, default=1, help="the version folder to write (1, 2, ...)")
    et.add_argument("--max-batch-size", type=int, default=8, help="frames one pass may take (0: no batching)")
    et.add_argument(
        "--queue-delay-us", type=int, default=2000, help="how long the batcher waits for frames to join a pass"
    )
    et.add_argument("--instances", type=int, default=1, help="model instances (parallel passes) per device")
    et.add_argument(
        "--kind", choices=("auto", "cpu", "gpu"), default="auto", help="where the ONNX model's instances run"
    )
    et.add_argument("--force", action="store_true", help="replace existing files of this model in the repository")
    et.set_defaults(func=cmd_export_triton)

    i = sub.add_parser(
        "import-model",
        help="probe an ONNX model and write its manifest",
        description="Probe an ONNX model Laterna did not train (inputs, shapes, style or generator, "
        "pixel range) and write its JSON manifest beside it. An existing manifest is never "
        "replaced without --force.",
    )
    i.add_argument("model", help="the .onnx file to probe")
    i.add_argument("--name", default=None, help="the model's name in the manifest (default: the file's stem)")
    i.add_argument("--range", default=None, help="input pixel range LOW,HIGH (probed if omitted)")
    i.add_argument(
        "--out", default=None, help="write the manifest here (a .json file or a folder) instead of beside the model"
    )
    i.add_argument(
        "--force",
        action="store_true",
        help="replace an existing manifest (its training, provenance and licence notes are lost)",
    )
    i.set_defaults(func=cmd_import_model)

    from installation.cli.generator import add_parser as add_generator_commands

    add_generator_commands(sub)

    b = sub.add_parser(
        "bench",
        help="speed tables (model and end to end)",
        description="Measure and print speed tables: the model per backend and size, the whole loop "
        "end to end, a style turn, the generator, and (--tables upscale) projector-size output.",
    )
    b.add_argument("--quick", action="store_true", help="fewer runs and sizes")
    b.add_argument("--seconds", type=float, default=6.0, help="seconds per end-to-end measurement")
    b.add_argument("--model", default=str(ROOT / "models" / "lantern.json"), help="manifest of the model to time")
    b.add_argument(
        "--tables",
        default="model,e2e,turn,generator",
        help="which tables: model, e2e, turn, generator, projectors, triton, cluster, upscale, streams "
        "(comma-separated; triton needs `make triton`; cluster: the show's bus, in-process vs Redis; upscale: "
        "1080p/4K output by guided upscaling vs resize vs stylising at full size; streams: a show with a server "
        "and stream viewers)",
    )
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
