"""DVC stage `train_classifier`: the MNIST classifier behind fid_classifier and CAS.

    python stages/train_classifier.py --data data/<scale>/mnist.npz --out models/<scale>/classifier \
        --metrics metrics/<scale>/reference/classifier.json

Trains models/classifier.py on the real training split (resumable: <out>/checkpoints/train.pt),
measures its test accuracy (the CAS reference row: the same classifier trained on real
data) and fails when it is below `classifier.evaluate.min_accuracy`, since its features
would then be a poor yardstick for FID.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.data.loaders import intensities
from genlab.data.mnist import load_prepared
from genlab.io import sha256_file, sha256_json, write_json
from genlab.metrics.classifier import accuracy, fit_classifier
from genlab.pipeline import StageError, code_hash, load_params, provenance_of, setup, stage_main
from genlab.training.tracking import Tracker


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="classifier directory to write")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params.classifier
    device = setup(params)
    splits = load_prepared(args.data)
    x_train, y_train = intensities(splits["train"][0]), splits["train"][1]
    x_valid, y_valid = intensities(splits["valid"][0]), splits["valid"][1]
    x_test, y_test = intensities(splits["test"][0]), splits["test"][1]
    resolved = {"scale": params.scale, "seed": params.seed, **cfg.model_dump()}
    fingerprint = sha256_json({**resolved, "data": sha256_file(args.data), "code": code_hash()})
    ckpt = args.out / "checkpoints" / "train.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    n = len(x_train[: cfg.train.n_train])
    print(f"train_classifier: {n:,} images, {cfg.train.epochs} epochs on {device} (scale {params.scale})")
    with Tracker("train", "classifier", params.scale, resolved) as tracker:
        model, trainer = fit_classifier(x_train, y_train, cfg, params.seed, ckpt, fingerprint, device,
                                        x_valid, y_valid, log_metrics=tracker.log_metrics)
        acc = accuracy(model, x_test, y_test, cfg.evaluate.batch_size, device)
        values = {"test_accuracy": acc, "test_error_pct": 100 * (1 - acc),
                  "valid_error_pct": 100 * trainer.history[-1]["valid_error"],
                  "train_epochs": trainer.epoch,
                  "train_seconds": float(sum(r["epoch_seconds"] for r in trainer.history))}
        record = {"model": "classifier", "scale": params.scale, **values,
                  "protocol": {"split": "test", "n_test": len(x_test), "n_train": n,
                               "architecture": "models/classifier.py (LeNet-style)"},
                  "provenance": provenance_of(resolved, data=sha256_file(args.data), checkpoint=sha256_file(ckpt))}
        tracker.log_metrics(values)
        write_json(args.metrics, record)
        tracker.log_artifact(args.metrics)
    print(f"train_classifier: test accuracy {100 * acc:.2f}% ({len(x_test):,} images)")
    if acc < cfg.evaluate.min_accuracy:
        raise StageError(f"classifier test accuracy {acc:.4f} is below classifier.evaluate.min_accuracy = "
                         f"{cfg.evaluate.min_accuracy} (scale {params.scale}): train longer before using its "
                         f"features for FID")


if __name__ == "__main__":
    sys.exit(main())
