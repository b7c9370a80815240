"""DVC stage `report`: paper-vs-ours tables from every scale's records.

    python stages/report.py --params resolved/<scale>/report.json --records reports/records \
        --out reports/paper_comparison

Writes <out>.csv (columns model,dataset,metric,unit,paper,paper_source,scale,ours,protocol,note),
<out>.md (the same rows, deviations, provenance and figure links) and, when auto-encoders
were evaluated, reports/contraction_curves.png: Rifai et al.'s contraction curve of every
auto-encoder on one chart, one panel per scale. Last, it logs the runs other stages journaled
(tracking mode `deferred`) to MLflow.
"""
from __future__ import annotations

import sys
from pathlib import Path

from genlab.pipeline import load_slice, parse_args, stage_main

STABILITY_CHART = Path("reports/stability_curves.png")
CONTRACTION_CHART = Path("reports/contraction_curves.png")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "records", "out"))


@stage_main
def run(args) -> None:
    from genlab.io import atomic_path
    from genlab.report import figures
    from genlab.report.tables import comparison_rows, load_records, load_stability, markdown_report
    from genlab.tracking import flush

    p = load_slice(args.params)
    records = load_records(args.records)
    rows = comparison_rows(records)
    panels: dict[str, dict] = {}
    for r in records:
        if "contraction" in r["curves"]:
            c = r["curves"]["contraction"]
            panels.setdefault(f"{r['scale']} scale", {})[r["model"]] = (c["radius"], c["ratio_mean"])
    figures.curves(panels or {"no auto-encoder evaluated yet": {}}, CONTRACTION_CHART,
                   ("distance r from a test point (input space)", "mean ||f(x + r u) - f(x)|| / r"), logx=True)
    stability = load_stability(args.records)
    curves: dict[str, dict] = {}
    for r in stability:
        c, objective = r["curves"]["checkpoints"], r["objective"]
        generator = r["cell"].split("-", 1)[1]
        curves.setdefault(f"{r['scale']}: {objective}, Fréchet classifier distance", {})[generator] = (
            c["generator_updates"], c["fid_classifier"])
        if "train_em_estimate" in c:
            curves.setdefault(f"{r['scale']}: wgan, critic's EM estimate", {})[generator] = (
                c["generator_updates"][1:], c["train_em_estimate"][1:])
    figures.curves(curves or {"no stability cell has run yet": {}}, STABILITY_CHART,
                   ("generator updates", "value"))
    with atomic_path(args.out.with_suffix(".csv")) as tmp:
        rows.to_csv(tmp, index=False)
    with atomic_path(args.out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown_report(p.report.title, rows, records, stability))
    flush()  # the runs that stages journaled (tracking mode `deferred`) go to MLflow now
    scales = sorted({r["scale"] for r in records})
    print(f"report: {len(rows)} rows from {len(records)} records (scales: {', '.join(scales) or 'none'}) "
          f"-> {args.out}.md, {args.out}.csv")


if __name__ == "__main__":
    sys.exit(main())
