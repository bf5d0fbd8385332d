#!/usr/bin/env python3
"""Flicker of two training runs (with and without the stability term) at matching steps, from their
weight snapshots (weights_stepNNNNNN.pt), on the held-out photos. Prints a Markdown table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporters.evaluate import flicker  # noqa: E402
from exporters.images import list_images, load_rgb  # noqa: E402
from exporters.ship import load_lantern_checkpoint  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("with_term", help="run folder trained with the stability term")
    p.add_argument("without_term", help="run folder trained without it")
    p.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "content" / "public_domain"))
    args = p.parse_args()
    photos = [load_rgb(ph, long_side=256) for ph in list_images(args.photos)]
    rows = ["| step | flicker with term | without term | ratio |", "|---|---|---|---|"]
    for snap in sorted(Path(args.with_term).glob("weights_step*.pt")):
        other = Path(args.without_term) / snap.name
        if not other.is_file():
            continue
        a, names, _ = load_lantern_checkpoint(snap)
        b, _, _ = load_lantern_checkpoint(other)
        fa, fb = flicker(a, photos, len(names))["output"], flicker(b, photos, len(names))["output"]
        rows.append(f"| {int(snap.stem[-6:])} | {fa:.2f} | {fb:.2f} | {fa / fb:.2f} |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
