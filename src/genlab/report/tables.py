"""Paper-vs-ours tables from the committed metrics files of every scale present."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from genlab.report.references import DEVIATIONS, REFERENCES, Reference

COLUMNS = ["model", "dataset", "metric", "unit", "paper", "paper_source", "scale", "ours", "protocol", "note"]
SCALE_ORDER = {"paper": 0, "quick": 1, "tiny": 2}


SAMPLE_FIELDS = ("fid_classifier", "fid_inception", "cas_accuracy", "cas_top1_pct", "sample_metrics")


def load_metrics(root: Path) -> list[dict]:
    """Every metrics/<scale>/<model>.json under `root`, each with its path and the sample metrics of
    metrics/<scale>/samples/<model>.json merged in; plus one record per reference row of
    metrics/<scale>/reference/*.json (models `real_data`, `gaussian_noise`, `classifier`)."""
    records = []
    for path in sorted(root.glob("*/*.json")):
        record = json.loads(path.read_text())
        record["_path"] = str(path)
        records.append(record)
    by_key = {(r["model"], r["scale"]): r for r in records}
    for path in sorted(root.glob("*/samples/*.json")):
        s = json.loads(path.read_text())
        target = by_key.get((s["model"], s["scale"]))
        if target is not None:
            target.update({k: s[k] for k in SAMPLE_FIELDS if k in s})
            target.setdefault("_sources", []).append({"path": str(path), "provenance": s["provenance"]})

    def pseudo(model: str, scale: str, path: Path, provenance: dict, protocol: str) -> dict:
        if (model, scale) not in by_key:
            by_key[model, scale] = {"model": model, "scale": scale, "family": "reference", "_path": str(path),
                                    "provenance": provenance, "protocol": {"text": protocol}}
            records.append(by_key[model, scale])
        return by_key[model, scale]

    for path in sorted(root.glob("*/reference/*.json")):
        r = json.loads(path.read_text())
        if path.stem == "fid":
            for net, row in r["fid"].items():
                proto = r["protocol"]
                real = pseudo("real_data", r["scale"], path, r["provenance"], proto["real"])
                noise = pseudo("gaussian_noise", r["scale"], path, r["provenance"], proto["noise"])
                real[f"fid_{net}"], noise[f"fid_{net}"] = row["real_train_vs_test"], row["noise_vs_test"]
                for rec in (real, noise):
                    rec.setdefault("sample_metrics", {})[f"fid_{net}"] = {
                        "feature_network": row["feature_network"], "weights_sha256": row["weights_sha256"],
                        "n_samples": row["n_noise"], "n_real": row["n_real"], "real_split": "test"}
        elif path.stem == "classifier":
            rec = pseudo("classifier", r["scale"], path, r["provenance"],
                         f"trained on {r['protocol']['n_train']} real training images, tested on "
                         f"{r['protocol']['n_test']} real test images")
            rec["cas_top1_pct"] = 100 * r["test_accuracy"]
    return records


_AE_PROTOCOL = {"test_error_finetuned_pct": "finetune", "test_error_probe_pct": "probe",
                "jacobian_fro_mean": "jacobian", "saturated_pct": "saturation"}


def protocol_text(record: dict, ref: Reference) -> str:
    p = record["protocol"]
    if ref.ours.startswith("fid_"):
        m = record["sample_metrics"][ref.ours]
        return (f"{m['n_samples']} {'images' if record['family'] == 'reference' else 'samples'} vs {m['n_real']} real "
                f"{m['real_split']} images; {m['feature_network']}; weights sha256 {m['weights_sha256'][:12]}")
    if ref.ours == "cas_top1_pct":
        if record["family"] == "reference":
            return p["text"]
        m = record["sample_metrics"]["cas_accuracy"]
        return f"classifier trained on {m['train']}; tested on the {m['test']}"
    if record["family"] == "autoencoder":
        return (f"{p['split']} split, {p['n_test']} images ({p['data_source']} data); {p[_AE_PROTOCOL[ref.ours]]}; "
                f"{record['train_epochs']} pretraining epochs")
    parts = [f"{p['split']} split, {p['binarization']} binarization ({p['data_source']} data)"]
    if "niwae" in ref.ours:
        parts.append(f"IWAE k={p['iwae_k']} on {p['n_iwae']} images")
    else:
        parts.append(f"{p['elbo_samples_per_image']} z-sample/image on {p['n_test']} images")
    if ref.unit == "bits/dim":
        parts.append(f"{p['bpd_formula']}, n_dims={p['n_dims']}")
    parts.append(f"{record['train_epochs']} epochs")
    return "; ".join(parts)


def comparison_rows(records: Iterable[dict], references: Iterable[Reference] = REFERENCES) -> pd.DataFrame:
    """One row per (reference figure, scale with a metrics file for its model)."""
    by_key = {(r["model"], r["scale"]): r for r in records}
    rows = []
    for ref in references:  # rows in reference order, paper scale first within each figure
        for (model, scale), record in sorted(by_key.items(), key=lambda kv: SCALE_ORDER.get(kv[0][1], 9)):
            if model != ref.model or ref.ours not in record:
                continue
            note = ref.note
            if scale != "paper":
                note = (f"{scale} scale: not comparable to the paper's figure. " + note).strip()
            rows.append({
                "model": ref.model, "dataset": ref.dataset, "metric": ref.metric, "unit": ref.unit,
                "paper": ref.paper, "paper_source": ref.paper_source, "scale": scale,
                "ours": round(ref.sign * float(record[ref.ours]), 4),
                "protocol": protocol_text(record, ref), "note": note,
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = ["" if pd.isna(v) else str(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(title: str, df: pd.DataFrame, records: list[dict]) -> str:
    """The report: comparison table, deviations, provenance of every record, figure links."""
    out = [f"# {title}", "",
           "Generated by the `report` stage from `metrics/<scale>/<model>.json`; do not edit by hand.",
           "Scales: `paper` runs the papers' configurations; `quick` is the CPU default (few epochs) and `tiny` "
           "the test scale: their figures show the pipeline learning, not a reproduction.", ""]
    out += ["## Paper vs ours", ""]
    shown = df[["model", "metric", "unit", "paper", "scale", "ours", "protocol", "note"]] if len(df) else df
    out += [_md_table(shown) if len(df) else "_No metrics yet: run `dvc repro`._", ""]
    out += ["Sources of the paper figures:", ""]
    for source in dict.fromkeys(df["paper_source"]) if len(df) else []:
        out.append(f"- {source}")
    out += ["", "## Deviations from the papers", ""]
    for family in sorted({r["family"] for r in records}):
        out.append(f"- **{family}**: {DEVIATIONS.get(family, 'none recorded')}")
    out += ["", "## Provenance", "",
            "Every figure above comes from the metrics file named here; its params hash covers the resolved "
            "model block, scale and seed. A `-dirty` commit ran with uncommitted changes (metrics are written "
            "before they are committed): the code sha256 identifies the exact sources.", "",
            "| scale | model | metrics file | git commit | code sha256 | params sha256 | data sha256 | checkpoint sha256 |",
            "|---|---|---|---|---|---|---|---|"]
    seen = set()
    for r in sorted(records, key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r["model"])):
        for path, p in [(r["_path"], r["provenance"])] + [(s["path"], s["provenance"]) for s in r.get("_sources", [])]:
            if path in seen:
                continue
            seen.add(path)
            commit = p["git_commit"][:12] + ("-dirty" if p["git_commit"].endswith("-dirty") else "")
            out.append(f"| {r['scale']} | {r['model']} | `{path}` | `{commit}` | "
                       f"`{p['code_sha256'][:12]}` | `{p['params_sha256'][:12]}` | `{p['data_sha256'][:12]}` | "
                       f"`{p['checkpoint_sha256'][:12]}` |")
    if any("contraction_curve" in r for r in records):
        out += ["", "## Contraction curves (Rifai et al. 2011)", "",
                "Mean ratio of feature-space to input-space distance between a test point and a point at distance r "
                "in a random direction, for every auto-encoder; below 1 the encoder contracts. One panel per scale.",
                "", "![contraction curves](contraction_curves.png)"]
    out += ["", "## Figures", "",
            "Images are DVC outputs under `reports/figures/<scale>/<model>/` (rebuilt by `dvc repro`).", ""]
    for r in sorted(records, key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r["model"])):
        out.append(f"### {r['model']} ({r['scale']} scale)")
        out.append("")
        for fig in r.get("figures", []):
            rel = Path(fig).relative_to("reports") if fig.startswith("reports/") else Path(fig)
            out.append(f"![{Path(fig).stem}]({rel.as_posix()})")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
