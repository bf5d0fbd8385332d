#!/usr/bin/env python3
"""Measure a trained style network on held-out photos and write the numbers the README reports.

    python tools/evaluate_style.py runs/default/checkpoint.pt --compare runs/nostab/checkpoint.pt

Per style: SqueezeNet Gram distance to the style image before vs after stylisation (must drop);
flicker (mean |frame-to-frame change|, 0..255) on static scenes with simulated sensor noise, for the
model and, side by side, for the same recipe trained without the stability term. Writes a JSON
report and a Markdown table, and a contact sheet of every style on the held-out photos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporters.evaluate import flicker, gram_distances  # noqa: E402
from exporters.images import contact_sheet, list_images, load_rgb  # noqa: E402
from exporters.lossnet import load_loss_network  # noqa: E402
from exporters.ship import load_lantern_checkpoint  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--compare", help="checkpoint of the same recipe without the stability term")
    p.add_argument("--styles", default=str(SHARED / "styles"))
    p.add_argument("--photos", default=str(SHARED / "content" / "public_domain"), help="held-out photos")
    p.add_argument("--loss-network", default=str(SHARED / "weights" / "squeezenet1_0" / "squeezenet1_0_imagenet.npz"))
    p.add_argument(
        "--out", default=str(ROOT / "runs" / "style_report"), help="folder for the report (docs/ holds the shipped one)"
    )
    p.add_argument("--size", type=int, default=320, help="long side of the held-out photos")
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net, names, ckpt = load_lantern_checkpoint(args.checkpoint)
    by_stem = {s.stem: s for s in list_images(args.styles)}
    style_paths = [by_stem[n] for n in names]
    photo_paths = list_images(args.photos)
    photos = [load_rgb(ph, long_side=args.size) for ph in photo_paths]
    lossnet = load_loss_network(args.loss_network)

    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "steps": ckpt.get("step"),
        "held_out_photos": [ph.name for ph in photo_paths],
        "gram": gram_distances(net, lossnet, style_paths, photos),
        "flicker": {"with_stability_term": flicker(net, photos, len(names))},
    }
    if args.compare:
        other, _, other_ckpt = load_lantern_checkpoint(args.compare)
        report["flicker"]["without_stability_term"] = {
            **flicker(other, photos, len(names)),
            "steps": other_ckpt.get("step"),
        }
    (out / "style_report.json").write_text(json.dumps(report, indent=2) + "\n")

    lines = ["| style | Gram distance before | after | after / before |", "|---|---|---|---|"]
    lines += [f"| {r['style']} | {r['before']:.3f} | {r['after']:.3f} | {r['ratio']:.2f} |" for r in report["gram"]]
    f = report["flicker"]
    lines += [
        "",
        "| flicker (mean abs change, 0..255, static scene + noise σ=0.02) | value |",
        "|---|---|",
        f"| input (sensor noise alone) | {f['with_stability_term']['input']:.2f} |",
        f"| shipped model (with stability term) | {f['with_stability_term']['output']:.2f} |",
    ]
    if "without_stability_term" in f:
        w = f["without_stability_term"]["output"]
        lines.append(f"| same recipe without the term | {w:.2f} |")
        lines.append(f"| ratio with / without | {f['with_stability_term']['output'] / w:.2f} |")
    (out / "style_report.md").write_text("\n".join(lines) + "\n")

    import torch

    rows = [[torch.zeros(3, 8, 8)] + [load_rgb(sp, long_side=256) for sp in style_paths]]
    with torch.no_grad():
        for ph in photos:
            outs = net(ph[None].repeat(len(names), 1, 1, 1), torch.eye(len(names)))
            rows.append([ph] + list(outs))
    contact_sheet(rows, out / "contact_sheet.png", cell=(200, 150))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
