"""Paper-vs-ours tables from the committed records of every scale present.

A record (reports/records/<scale>/...json) is what a measuring stage writes beside its
flat metrics file: the same numbers under `values`, with the protocol, provenance,
curves and figures behind them. `load_records` merges, per model and scale, the evaluate
record with the sample-metrics record, and turns each reference record into pseudo-models
(`real_data`, `gaussian_noise` per view, `classifier`) so that every figure is one row.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from genlab.report.references import DEVIATIONS, REFERENCES, Reference

COLUMNS = ["model", "dataset", "metric", "unit", "paper", "paper_source", "scale", "ours", "protocol", "note"]
SCALE_ORDER = {"paper": 0, "quick": 1, "tiny": 2}


def _source(path: Path, rec: dict) -> dict:
    return {"path": str(path), "provenance": rec["provenance"], "carried_over": rec.get("carried_over")}


def load_records(root: Path) -> list[dict]:
    """One merged record per (model, dataset, scale): the values of its evaluate and sample-metrics records
    side by side (`values`), with their protocols, figures and provenance (`_sources`)."""
    merged: dict[tuple, dict] = {}

    def entry(model: str, dataset: str, scale: str, family: str) -> dict:
        key = (model, dataset, scale)
        if key not in merged:
            merged[key] = {"model": model, "dataset": dataset, "scale": scale, "family": family, "values": {},
                           "protocol": {}, "sample_metrics": {}, "figures": [], "curves": {}, "_sources": []}
        return merged[key]

    for path in sorted(root.glob("*/*.json")):
        rec = json.loads(path.read_text())
        e = entry(rec["model"], rec["dataset"], rec["scale"], rec["family"])
        e["values"].update(rec["values"])
        e["protocol"].update(rec["protocol"])
        e["figures"] += rec.get("figures", [])
        e["curves"].update(rec.get("curves", {}))
        if "training" in rec:
            e["training"] = rec["training"]
        e["_sources"].append(_source(path, rec))
    for path in sorted(root.glob("*/samples/*.json")):
        rec = json.loads(path.read_text())
        e = entry(rec["model"], rec["dataset"], rec["scale"], "model")  # keeps the evaluate record's family
        e["values"].update(rec["values"])
        e["sample_metrics"].update(rec["sample_metrics"])
        e["protocol"]["samples"] = rec["protocol"]["samples"]
        for key in ("data_source", "stand_in"):  # a generator with no evaluate record still names its data
            e["protocol"].setdefault(key, rec["protocol"].get(key))
        e["_sources"].append(_source(path, rec))
    for path in sorted(root.glob("*/reference/*.json")):
        rec = json.loads(path.read_text())
        if rec["stage"] == "train_classifier":
            e = entry("classifier", rec["dataset"], rec["scale"], "reference")
            e["values"]["cas_top1_pct"] = 100 * rec["values"]["test_accuracy"]
            e["protocol"]["text"] = (f"trained on {rec['protocol']['n_train']} real training images, tested on "
                                     f"{rec['protocol']['n_test']} real test images")
            e["_sources"].append(_source(path, rec))
            continue
        for view_name, figs in rec["values"].items():
            for pseudo, suffix, proto in (("real_data", "_real_train_vs_test", rec["protocol"]["real"]),
                                          ("gaussian_noise", "_noise_vs_test", rec["protocol"]["noise"])):
                e = merged.setdefault((pseudo, rec["dataset"], rec["scale"], view_name), {
                    "model": pseudo, "dataset": rec["dataset"], "scale": rec["scale"], "family": "reference",
                    "view": view_name, "values": {}, "sample_metrics": {}, "figures": [], "curves": {},
                    "protocol": {"text": proto, "data_source": rec["protocol"].get("data_source"),
                                 "stand_in": rec["protocol"].get("stand_in")},
                    "_sources": [_source(path, rec)]})
                e["values"].update({k[: -len(suffix)]: v for k, v in figs.items() if k.endswith(suffix)})
                for net, d in rec["sample_metrics"][view_name].items():
                    info = d["real_train_vs_test" if pseudo == "real_data" else "noise_vs_test"]
                    e["sample_metrics"][net] = {**info, "feature_network": d["feature_network"],
                                                "weights_sha256": d["weights_sha256"], "real_split": "test",
                                                "view": view_name}
    return sorted(merged.values(), key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r["model"], r.get("view", "")))


_AE_PROTOCOL = {"test_error_finetuned_pct": "finetune", "test_error_probe_pct": "probe",
                "jacobian_fro_mean": "jacobian", "saturated_pct": "saturation"}


def _data_text(p: dict) -> str:
    text = f"{p.get('data_source')} data"
    if p.get("stand_in"):
        text += f"; STAND-IN: {p['stand_in']}"
    return text


def protocol_text(record: dict, ref: Reference) -> str:
    p = record["protocol"]
    if ref.ours.startswith(("fid_", "kid_", "is_")):
        net = ref.ours.split("_", 1)[1]
        m = record["sample_metrics"][net]
        subject = "images" if record["family"] == "reference" else "samples"
        text = (f"{m['n_samples']} {subject} vs {m['n_real']} real {m['real_split']} images in view {m['view']}; "
                f"{m['feature_network']}; weights sha256 {m['weights_sha256'][:12]}")
        if ref.ours.startswith("is_"):
            text = f"{m['n_samples']} samples; {m['inception_score']}"
        if ref.ours.startswith("kid_"):
            text += f"; KID over {m['kid']['n_subsets']} subsets of {m['kid']['subset_size']}"
        epochs = record["values"].get("train_epochs")
        if record["family"] != "reference" and epochs is not None:   # a sample figure is only as good as the run
            text += f"; model trained {epochs} epochs"
        return f"{text}; {_data_text(p)}"
    if ref.ours == "cas_top1_pct":
        if record["family"] == "reference":
            return p["text"]
        m = record["sample_metrics"]["cas"]
        return f"classifier trained on {m['train']}; tested on the {m['test']}"
    if ref.ours == "cas_recon_top1_pct":
        m = record["sample_metrics"]["cas"]
        return f"classifier trained on {m['train']}; tested on {m['test_recon']}"
    if ref.ours == "cas_real_top1_pct":
        m = record["sample_metrics"]["cas"]
        return f"{m['real_data_row']} ({m['test']})"
    if record["family"] == "autoencoder":
        return (f"{p['split']} split, {p['n_test']} images ({_data_text(p)}); {p[_AE_PROTOCOL[ref.ours]]}; "
                f"{record['values']['train_epochs']} pretraining epochs")
    if record["family"] == "gan":
        return (f"{p['split']}; {p['arch']} networks, {p['objective']} objective, view {p['view']} "
                f"({_data_text(p)}); {record['values']['train_epochs']} epochs")
    if record["family"] == "gru_encdec":
        copy = f"; <unk1>..<unk{p['copy_unks']}> copied from the source" if p.get("copy_unks") else ""
        unk = "" if p.get("allow_unk", True) else ", plain <unk> banned from translations"
        return (f"{p['split']} ({_data_text(p)}); beam {p['beam']}, length penalty {p['length_penalty']}{unk}{copy}; "
                f"{p['bleu_signature']}; {record['values']['train_epochs']} epochs")
    if record["family"] == "vaegan":
        return (f"{p['split']}, view {p['view']} ({_data_text(p)}); {p['pixel_mse']}; gamma {p['gamma']}; "
                f"{record['values']['train_epochs']} epochs")
    if record["family"] == "realnvp":
        return (f"{p['split']} split, {p['n_test']} images, view {p['view']} ({_data_text(p)}), one fixed "
                f"dequantization draw; {p['bpd_formula']}, n_dims={p['n_dims']}, alpha={p['alpha']}; "
                f"{record['values']['train_epochs']} epochs")
    if record["family"] in ("vqvae", "vq_prior"):
        shapes = ", ".join(f"{k} {h}x{w}" for k, (h, w) in p["code_shapes"].items())
        what = (f"prior over the codes of {p['vq_model']}" + (", class-conditional" if p["conditional"] else "")
                if record["family"] == "vq_prior" else f"codebook {p['codebook']}")
        return (f"{p['split']} split, {p['n_test']} images, view {p['view']} ({_data_text(p)}); {shapes} maps of "
                f"K={p['n_codes']} codes, {what}; {p['bpd_formula']}, n_dims={p['n_dims']}; "
                f"{record['values']['train_epochs']} epochs")
    parts = [f"{p['split']} split, view {p['view']} ({_data_text(p)})"]
    if "niwae" in ref.ours:
        parts.append(f"IWAE k={p['iwae_k']} on {p['n_iwae']} images")
    else:
        parts.append(f"{p['elbo_samples_per_image']} z-sample/image on {p['n_test']} images")
    if ref.unit == "bits/dim":
        parts.append(f"{p['bpd_formula']}, n_dims={p['n_dims']}")
    parts.append(f"{record['values']['train_epochs']} epochs")
    return "; ".join(parts)


def comparison_rows(records: Iterable[dict], references: Iterable[Reference] = REFERENCES) -> pd.DataFrame:
    """One row per (reference figure, record of its model and data set that has the figure)."""
    records = sorted(records, key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r.get("view", "")))
    rows = []
    for ref in references:  # rows in reference order, paper scale first within each figure
        for record in records:
            if record["model"] != ref.model or record["dataset"] != ref.dataset or ref.ours not in record["values"]:
                continue
            note = ref.note
            if record.get("view"):
                note = f"view {record['view']}. {note}".strip()
            if record["scale"] != "paper":
                note = f"{record['scale']} scale: not comparable to the paper's figure. {note}".strip()
            if record["protocol"].get("stand_in"):
                note = f"STAND-IN data, not {ref.dataset}: not comparable. {note}".strip()
            rows.append({
                "model": ref.model, "dataset": ref.dataset, "metric": ref.metric, "unit": ref.unit,
                "paper": ref.paper, "paper_source": ref.paper_source, "scale": record["scale"],
                "ours": round(ref.sign * float(record["values"][ref.ours]), 4),
                "protocol": protocol_text(record, ref), "note": note,
            })
    return pd.DataFrame(rows, columns=COLUMNS)


# seed 002's table 1 (GAN / VAE / flow: likelihood, stability, training cost, image quality) and the models
# whose records fill it with our figures
SEED002_TABLE = (
    ("GAN", ("dcgan", "wgan", "gan_mlp", "vae_gan", "dcgan_cifar"), ("No", "Unstable", "Medium", "Best")),
    ("VAE", ("vae_conv_cifar", "vae_mlp"), ("Approximate", "Stable", "Low", "Normal")),
    ("Flow", ("realnvp_cifar", "realnvp_mnist"), ("Tractable", "Stable", "High", "Good")),
)
FAMILY_COLUMNS = ["family", "model", "dataset", "scale", "seed 002 says", "likelihood", "stability", "training cost",
                  "sample quality"]


def family_comparison(records: Iterable[dict]) -> pd.DataFrame:
    """Seed 002's qualitative comparison of GANs, VAEs and flows, one row per model we measured."""
    rows = []
    by_model: dict[str, list[dict]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    for family, models, verdict in SEED002_TABLE:
        said = "likelihood {}; stability {}; cost {}; quality {}".format(*(v.lower() for v in verdict))
        found = [r for m in models for r in by_model.get(m, []) if "training" in r]
        if not found:
            rows.append({"family": family, "model": "", "dataset": "", "scale": "", "seed 002 says": said,
                         "likelihood": "not measured: no model of this family has run yet", "stability": "",
                         "training cost": "", "sample quality": ""})
        for r in found:
            v, t = r["values"], r["training"]
            if "test_bpd" in v:
                likelihood = f"{v['test_bpd']:.3f} bits/dim, exact density of the dequantized data"
            elif "test_nelbo_bpd" in v:
                likelihood = f"<= {v['test_nelbo_bpd']:.3f} bits/dim (negative ELBO, a bound)"
            else:
                likelihood = "none: no density to evaluate"
            quality = "; ".join(f"{label} {v[key]:.4g}" for key, label in (
                ("fid_classifier", "Fréchet classifier distance"), ("fid_inception", "FID"),
                ("kid_inception", "KID (Inception)"), ("class_tv_classifier", "class TV")) if key in v) or "not measured"
            speed = t.get("train_images_per_second")
            rows.append({
                "family": family, "model": r["model"], "dataset": r["dataset"], "scale": r["scale"],
                "seed 002 says": said, "likelihood": likelihood,
                "stability": (f"{t['epochs']} epochs without a non-finite loss; validation "
                              + ("discriminator/critic loss" if r["family"] == "gan" else "loss")
                              + f" rose in {t['valid_loss_rises']} of {max(t['epochs'] - 1, 0)} epoch steps"),
                "training cost": f"{t['parameters']:,} parameters; " + (
                    f"{speed:,.0f} training images/s" if speed else "speed not recorded"),
                "sample quality": quality})
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


STABILITY_CLAIM = ("Arjovsky et al. 2017 (§4.3, figs. 5-6): with a DCGAN critic, WGAN trains the DCGAN generator, "
                   "the DCGAN generator without batch norm and a 4-layer ReLU MLP generator of 512 units, where a standard GAN fails "
                   "on the last two; and the critic's Earth-Mover estimate falls as samples improve, where the GAN "
                   "discriminator's loss says nothing about quality; and that no WGAN run showed mode collapse")


def load_stability(root: Path) -> list[dict]:
    """The stability matrix's records (reports/records/<scale>/stability/<objective>-<generator>.json)."""
    return [json.loads(p.read_text()) | {"_path": str(p)} for p in sorted(root.glob("*/stability/*.json"))]


def stability_table(records: Iterable[dict]) -> pd.DataFrame:
    """One row per (scale, generator), one column per objective: the final and best Fréchet classifier distance
    and Spearman's rho between the player-1 loss and that distance across checkpoints."""
    cells: dict[tuple, dict] = {}
    for r in sorted(records, key=lambda r: (SCALE_ORDER.get(r["scale"], 9), r["cell"])):
        objective, generator = r["cell"].split("-", 1)
        v = r["values"]
        rho_key = next((k for k in v if k.startswith("spearman_")), None)
        loss = "EM estimate" if r["objective"] == "wgan" else "D loss"
        rho = f"{v[rho_key]:+.2f}" if rho_key else "undefined (under 3 trained checkpoints)"
        row = cells.setdefault((r["scale"], generator), {"scale": r["scale"], "generator": generator})
        classes = (f"class TV {v['class_tv_classifier']:.2f} ({v['classes_under_half_classifier']} classes under "
                   "half their share); " if "class_tv_classifier" in v else "class TV not recorded; ")
        spread = (f"pixel spread {v['pixel_spread']:.3f} (real {v['pixel_spread_real']:.3f}); "
                  if "pixel_spread" in v else "")
        row[objective] = (f"FID {v['fid_classifier']:.1f} (start {v['fid_classifier_start']:.1f}, best "
                          f"{v['fid_classifier_best']:.1f}); {classes}{spread}rho({loss}, FID) {rho}; "
                          f"{v['generator_updates']} G updates")
    return pd.DataFrame(list(cells.values()))


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = ["" if pd.isna(v) else str(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(title: str, df: pd.DataFrame, records: list[dict], stability: list[dict] = ()) -> str:
    """The report: comparison table, deviations, the stability matrix, provenance of every record, figure links."""
    out = [f"# {title}", "",
           "Generated by the `report` stage from the records in `reports/records/<scale>/` (the flat figures are in "
           "`metrics/<scale>/`); do not edit by hand.",
           "Scales: `paper` runs the papers' configurations; `quick` is the CPU default (few epochs) and `tiny` "
           "the test scale: their figures show the pipeline learning, not a reproduction. Rows marked STAND-IN "
           "ran on embedded stand-in data (CIFAR-10: patches of scikit-image's photographs), not on the paper's "
           "data set.", ""]
    out += ["## Paper vs ours", ""]
    shown = df[["model", "dataset", "metric", "unit", "paper", "scale", "ours", "protocol", "note"]] if len(df) else df
    out += [_md_table(shown) if len(df) else "_No metrics yet: run `dvc repro`._", ""]
    out += ["Sources of the paper figures:", ""]
    for source in dict.fromkeys(df["paper_source"]) if len(df) else []:
        out.append(f"- {source}")
    out += ["", "## GANs, VAEs and flows compared (seed 002, table 1)", "",
            "Seed 002 compares the three families in words; each row below puts our measured figure beside its "
            "verdict. Likelihoods are test bits/dim of 8-bit data (CIFAR-10 rows: both an upper bound on the "
            "discrete image's NLL, so comparable when the data and scale match; MNIST rows: the VAE's binarized "
            "view and the flow's dequantized view are different data, so compare within a row). Sample quality "
            "is in the feature network of the row's data set (lower is better). Training speed is optimiser "
            "steps only, on the CPU or GPU the row's scale ran on.", "",
            _md_table(family_comparison(records)), ""]
    if stability:
        out += ["", "## The WGAN paper's stability matrix", "",
                f"Claim: {STABILITY_CLAIM}. Each cell: the Fréchet classifier distance of the final generator (and "
                "of the untrained one, and the best checkpoint), Spearman's rho between the epoch's player-1 loss "
                "(WGAN: the critic's Earth-Mover estimate; GAN: the discriminator's loss) and the distance after "
                "that epoch (positive: the loss falls as samples improve), the class TV of the final samples (half the L1 "
                "distance between the classifier's argmax class shares and the test labels' shares: 0 when every "
                "digit comes as often as in the data, higher as the generator drops digits), the pixel spread of "
                "the same samples (the mean over pixels of each pixel's standard deviation across the samples, "
                "beside the real test images': 0 when every z gives the same image, which class TV cannot tell "
                "from an untrained generator), and the generator updates made. "
                "Quick-scale cells train a few hundred batches on narrow networks: they show the pipeline, not the "
                "claim. Paper-scale cells train 25 MNIST epochs each, far shorter than the paper's runs: in the "
                "same epochs a WGAN cell makes about 6 times fewer generator updates than a GAN cell (5 critic "
                "steps per update, 100 during the warm-up), so compare the columns at their update counts. "
                "Curves: `reports/stability_curves.png`; per cell: `reports/figures/<scale>/stability/`.", "",
                _md_table(stability_table(stability)), "", "![stability curves](stability_curves.png)", ""]
    out += ["", "## Deviations from the papers", ""]
    for family in sorted({r["family"] for r in records}):
        out.append(f"- **{family}**: {DEVIATIONS.get(family, 'none recorded')}")
    out += ["", "## Provenance", "",
            "Every figure above comes from the record named here (its flat twin is the same path under `metrics/`); "
            "the params hash covers exactly the resolved params the stage read (`resolved/<scale>/`), the code "
            "sha256 exactly the source files it ran. A `-dirty` commit ran with uncommitted changes. Records marked (carried "
            "over) were measured under the first metrics layout (their params hash covers the whole model block and "
            "their code hash the whole package) and moved to this one unchanged.", "",
            "| scale | model | record | git commit | code sha256 | params sha256 | data sha256 | checkpoint sha256 |",
            "|---|---|---|---|---|---|---|---|"]
    seen = set()
    for r in records:
        for s in r["_sources"]:
            if s["path"] in seen:
                continue
            seen.add(s["path"])
            p = s["provenance"]
            commit = p["git_commit"][:12] + ("-dirty" if p["git_commit"].endswith("-dirty") else "")
            if s.get("carried_over"):
                commit += " (carried over)"
            out.append(f"| {r['scale']} | {r['model']} | `{s['path']}` | `{commit}` | `{p['code_sha256'][:12]}` | "
                       f"`{p['params_sha256'][:12]}` | `{p['data_sha256'][:12]}` | "
                       f"`{p.get('checkpoint_sha256', '')[:12]}` |")
    for r in stability:
        p = r["provenance"]
        commit = p["git_commit"][:12] + ("-dirty" if p["git_commit"].endswith("-dirty") else "")
        out.append(f"| {r['scale']} | {r['model']} | `{r['_path']}` | `{commit}` | `{p['code_sha256'][:12]}` | "
                   f"`{p['params_sha256'][:12]}` | `{p['data_sha256'][:12]}` | `{p.get('checkpoint_sha256', '')[:12]}` |")
    if any("contraction" in r["curves"] for r in records):
        out += ["", "## Contraction curves (Rifai et al. 2011)", "",
                "Mean ratio of feature-space to input-space distance between a test point and a point at distance r "
                "in a random direction, for every auto-encoder; below 1 the encoder contracts. One panel per scale.",
                "", "![contraction curves](contraction_curves.png)"]
    out += ["", "## Figures", "",
            "Images are DVC outputs under `reports/figures/<scale>/<model>/` (rebuilt by `dvc repro`).", ""]
    for r in records:
        if not r["figures"]:
            continue
        out.append(f"### {r['model']} ({r['dataset']}, {r['scale']} scale)")
        out.append("")
        for fig in r["figures"]:
            rel = Path(fig).relative_to("reports") if fig.startswith("reports/") else Path(fig)
            out.append(f"![{Path(fig).stem}]({rel.as_posix()})")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
