"""DVC stage `report`: paper-vs-ours tables from every scale's metrics.

    python stages/report.py --metrics metrics --out reports/paper_comparison

Writes <out>.csv (columns model,dataset,metric,unit,paper,paper_source,scale,ours,protocol,note),
<out>.md (the same rows, deviations, provenance and figure links) and, when auto-encoders
were evaluated, reports/contraction_curves.png: Rifai et al.'s contraction curve of every
auto-encoder on one chart, one panel per scale.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.io import atomic_path
from genlab.pipeline import load_params, stage_main
from genlab.report import figures
from genlab.report.tables import SCALE_ORDER, comparison_rows, load_metrics, markdown_report

CONTRACTION_CHART = Path("reports/contraction_curves.png")


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", type=Path, required=True, help="root of metrics/<scale>/<model>.json")
    ap.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = ap.parse_args(argv)
    params = load_params()
    records = load_metrics(args.metrics)
    rows = comparison_rows(records)
    panels: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r["model"])):
        if "contraction_curve" in r:
            c = r["contraction_curve"]
            panels.setdefault(f"{r['scale']} scale", {})[r["model"]] = (c["radius"], c["ratio_mean"])
    figures.curves(panels or {"no auto-encoder evaluated yet": {}}, CONTRACTION_CHART,
                   ("distance r from a test point (input space)", "mean ||f(x + r u) - f(x)|| / r"), logx=True)
    with atomic_path(args.out.with_suffix(".csv")) as tmp:
        rows.to_csv(tmp, index=False)
    with atomic_path(args.out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown_report(params.report.title, rows, records))
    scales = sorted({r["scale"] for r in records})
    print(f"report: {len(rows)} rows from {len(records)} metrics files (scales: {', '.join(scales) or 'none'}) "
          f"-> {args.out}.md, {args.out}.csv")


if __name__ == "__main__":
    sys.exit(main())
