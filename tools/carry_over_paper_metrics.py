"""One-off: split the paper-scale metrics files of the first layout (figures, protocol and provenance in one
JSON, up to commit 11bddbd) into the current layout: flat figures in metrics/paper/ and records in
reports/records/paper/. The figures, protocols and provenance are carried over unchanged (the runs took
hours of CPU and are not rerun); each record says so in `carried_over`.

    python tools/carry_over_paper_metrics.py      # reads the old files from git at 11bddbd
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

OLD = "11bddbd"
NOTE = (f"carried over from the first metrics layout (commit {OLD}); figures, protocol and provenance unchanged. "
        "Binarized VAEs' sample metrics there compared Bernoulli means with real intensities x/255")
TIMING = ("train_seconds", "finetune_seconds", "probe_seconds")
VIEW = {"threshold": "binary_threshold", "stochastic": "binary_stochastic"}


def old(path: str) -> dict:
    return json.loads(subprocess.run(["git", "show", f"{OLD}:{path}"], capture_output=True, text=True,
                                     check=True).stdout)


def write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def main() -> None:
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", OLD, "metrics/paper"], capture_output=True,
                           text=True, check=True).stdout.split()
    for name in names:
        rec = old(name)
        rel = Path(name).relative_to("metrics/paper")
        if rel.parts[0] == "samples":
            values = {k: rec[k] for k in ("fid_classifier", "fid_inception", "cas_accuracy", "cas_top1_pct") if k in rec}
            detail = {k.removeprefix("fid_"): {**v, "view": "intensity (samples: Bernoulli means)"}
                      for k, v in rec["sample_metrics"].items() if k.startswith("fid_")}
            new = {"stage": "sample_metrics", "model": rec["model"], "dataset": "mnist", "scale": "paper",
                   "sample_metrics": detail, "protocol": rec["protocol"], "provenance": rec["provenance"]}
        elif rel.stem == "fid":
            values, detail = {"intensity": {}}, {"intensity": {}}
            for net, row in rec["fid"].items():
                values["intensity"][f"fid_{net}_real_train_vs_test"] = row["real_train_vs_test"]
                values["intensity"][f"fid_{net}_noise_vs_test"] = row["noise_vs_test"]
                fig = {"n_samples": row["n_noise"], "n_real": row["n_real"], "notes": row["notes"]}
                detail["intensity"][net] = {"feature_network": row["feature_network"],
                                            "weights_sha256": row["weights_sha256"],
                                            "real_train_vs_test": fig, "noise_vs_test": fig}
            rel = rel.with_name("mnist.json")
            new = {"stage": "real_stats", "model": "reference", "family": "reference", "dataset": "mnist",
                   "scale": "paper", "sample_metrics": detail, "timing": rec.get("feature_timing", {}),
                   "protocol": {**rec["protocol"], "data_source": "embedded"}, "provenance": rec["provenance"]}
        elif rel.stem == "classifier":
            values = {k: rec[k] for k in ("test_accuracy", "test_error_pct", "valid_error_pct", "train_epochs")}
            new = {"stage": "train_classifier", "model": "classifier", "family": "reference", "dataset": "mnist",
                   "scale": "paper", "timing": {"train_seconds": rec["train_seconds"]},
                   "protocol": {**rec["protocol"], "view": "intensity"}, "provenance": rec["provenance"]}
        else:
            skip = {"model", "family", "dataset", "scale", "protocol", "provenance", "figures", "contraction_curve",
                    *TIMING}
            values = {k: v for k, v in rec.items() if k not in skip}
            protocol = dict(rec["protocol"])
            if "binarization" in protocol:
                protocol["view"] = VIEW[protocol.pop("binarization")]
                protocol["view_detail"] = protocol.pop("binarization_detail")
            else:
                protocol["view"] = "intensity"
            new = {"stage": "evaluate", "model": rec["model"], "family": rec["family"], "dataset": rec["dataset"],
                   "scale": "paper", "protocol": protocol, "provenance": rec["provenance"],
                   "figures": rec["figures"], "timing": {k: rec[k] for k in TIMING if k in rec},
                   "curves": {"contraction": rec["contraction_curve"]} if "contraction_curve" in rec else {}}
        new["carried_over"] = NOTE
        write(Path("metrics/paper") / rel, values)
        write(Path("reports/records/paper") / rel, {**new, "values": values})
        print(f"{name} -> metrics/paper/{rel}, reports/records/paper/{rel}")


if __name__ == "__main__":
    main()
