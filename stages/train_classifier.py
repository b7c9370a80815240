"""DVC stage `train_classifier`: the domain classifier behind fid_classifier and CAS.

    python stages/train_classifier.py --params resolved/<scale>/train_classifier.json \
        --data data/<scale>/<classifier.dataset> --out models/<scale>/classifier \
        --metrics metrics/<scale>/reference/classifier.json --record reports/records/<scale>/reference/classifier.json

Trains models/classifier.py on the real training split (resumable: <out>/checkpoints/train.pt),
measures its test accuracy (the CAS reference row: the same classifier trained on real
data) and fails when it is below `classifier.evaluate.min_accuracy`, since its features
would then be a poor yardstick for FID.
"""
from __future__ import annotations

import sys

from genlab.pipeline import StageError, load_slice, parse_args, setup, stage_main

# the sources this stage runs (relative to src/genlab); dvc.yaml's stage depends on the same files
CODE = ("models/classifier.py", "models/base.py", "metrics/classifier.py", "metrics/contraction.py", "training",
        "data/views.py", "data/prepared.py")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "out", "metrics", "record"))


@stage_main
def run(args) -> None:
    from genlab.data.prepared import Prepared
    from genlab.data.views import view
    from genlab.io import sha256_file
    from genlab.metrics.classifier import accuracy, fit_classifier
    from genlab.pipeline import provenance_of, weights_fingerprint
    from genlab.tracking import Tracker, publish

    p = load_slice(args.params)
    cfg = p.classifier
    device = setup(p)
    data = Prepared(args.data)
    v = view("intensity")
    x_train, y_train = v(data.images("train")), data.labels("train")
    x_valid, y_valid = v(data.images("valid")), data.labels("valid")
    x_test, y_test = v(data.images("test")), data.labels("test")
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    ckpt = args.out / "checkpoints" / "train.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    n = len(x_train[: cfg.train.n_train])
    print(f"train_classifier: {n:,} {data.name} images, {cfg.train.epochs} epochs on {device} (scale {p.scale})")
    with Tracker("train", "classifier", p.scale, p) as tracker:
        model, trainer = fit_classifier(x_train, y_train, cfg, p.seed, ckpt, fingerprint, device,
                                        x_valid, y_valid, log_metrics=tracker.log_metrics,
                                        n_classes=data.n_classes)
    acc = accuracy(model, x_test, y_test, cfg.evaluate.batch_size, device)
    values = {"test_accuracy": acc, "test_error_pct": 100 * (1 - acc),
              "valid_error_pct": 100 * trainer.history[-1]["valid_error"], "train_epochs": trainer.epoch}
    record = {"stage": "train_classifier", "model": "classifier", "family": "reference", "dataset": data.name,
              "scale": p.scale,
              "timing": {"train_seconds": float(sum(r["epoch_seconds"] for r in trainer.history))},
              "protocol": {"split": "test", "n_test": len(x_test), "n_train": n, "view": "intensity",
                           "data_source": data.manifest["source"], "architecture": "models/classifier.py (LeNet-style)"},
              "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt))}
    if acc < cfg.evaluate.min_accuracy:
        raise StageError(f"classifier test accuracy {acc:.4f} is below classifier.evaluate.min_accuracy = "
                         f"{cfg.evaluate.min_accuracy} (scale {p.scale}): train longer before using its "
                         f"features for FID")
    publish("train_classifier", "classifier", p, values, record, args.metrics, args.record)
    print(f"train_classifier: test accuracy {100 * acc:.2f}% ({len(x_test):,} images)")


if __name__ == "__main__":
    sys.exit(main())
