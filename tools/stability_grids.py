"""Set the stability matrix's sample grids side by side: one figure, a row per objective and a column per
generator of params.yaml's `stability` matrix, each panel titled with the cell's final Fréchet classifier
distance and class TV from its record. A cell that has not run is drawn as an empty, labelled panel.

    python tools/stability_grids.py --scale paper --out reports/paper_stability_mnist_samples.png

Reads reports/figures/<scale>/stability/<cell>/samples.png (the stage's output, not in git) and
reports/records/<scale>/stability/<cell>.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--root", type=Path, default=Path("."), help="the project checkout that ran the cells")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import matplotlib
    import yaml
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = yaml.safe_load((args.root / "params.yaml").read_text())["stability"]   # the cells dvc.yaml runs
    objectives, generators = list(matrix["objectives"]), list(matrix["generators"])
    fig, axes = plt.subplots(len(objectives), len(generators), figsize=(3.4 * len(generators), 3.8 * len(objectives)))
    for i, objective in enumerate(objectives):
        for j, generator in enumerate(generators):
            cell = f"{objective}-{generator}"
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            grid = args.root / "reports" / "figures" / args.scale / "stability" / cell / "samples.png"
            record = args.root / "reports" / "records" / args.scale / "stability" / f"{cell}.json"
            if not (grid.exists() and record.exists()):
                ax.set_title(f"{cell}\nnot run", fontsize=9)
                continue
            v = json.loads(record.read_text())["values"]
            ax.imshow(plt.imread(grid), cmap="gray")
            spread = f"\npixel spread {v['pixel_spread']:.3f}" if "pixel_spread" in v else ""
            ax.set_title(f"{cell}, {v['train_epochs']} epochs\nFID (classifier) {v['fid_classifier']:.1f}, "
                         f"class TV {v['class_tv_classifier']:.2f}{spread}", fontsize=9)
    fig.suptitle(f"Stability matrix ({args.scale} scale): samples of each cell's final generator", fontsize=10)
    fig.tight_layout(h_pad=2.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
