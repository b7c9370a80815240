"""DVC stage `real_stats@<dataset>`: real-data features of a data set, once, and the reference rows of every sample metric.

    python stages/real_stats.py --params resolved/<scale>/real_stats/<dataset>.json --data data/<scale>/<dataset> \
        --classifier models/<scale>/classifier --out features/<scale>/<dataset> \
        --metrics metrics/<scale>/reference/<dataset>.json --record reports/records/<scale>/reference/<dataset>.json

For each view that a sampling model of this data set trains on, and each feature network
of the data set (`sample_metrics.datasets.<dataset>.networks`): the features of the first
n test and n training images in that view (<out>/<network>_<view>_<split>.npy; every
sample_metrics stage compares its samples with the test features), and seed 001's reference rows: real train vs real test
("Real data 0.005") and Gaussian-noise images vs real test ("Random Gaussian noise 83.06"),
as FID and KID.
"""
from __future__ import annotations

import sys

from genlab.pipeline import StageError, load_slice, parse_args, setup, stage_main

CODE = ("metrics/sample_quality.py", "metrics/fid.py", "metrics/kid.py", "metrics/inception.py",
        "metrics/classifier.py", "models/classifier.py", "models/base.py", "training/checkpoint.py",
        "training/runtime.py", "training/progress.py", "data/views.py", "data/prepared.py")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "classifier", "out", "metrics", "record"))


@stage_main
def run(args) -> None:
    import hashlib
    import time

    import torch

    from genlab.data.prepared import Prepared
    from genlab.data.views import view
    from genlab.io import write_json
    from genlab.metrics.sample_quality import compare, feature_networks, noise_images, save_features
    from genlab.pipeline import provenance_of
    from genlab.tracking import publish

    p = load_slice(args.params)
    device = setup(p)
    data = Prepared(args.data)
    n = p.n_samples
    counts = data.manifest["counts"]
    if min(counts["test"], counts["train"]) < n:
        raise StageError(f"sample_metrics.datasets.{p.name}.n_samples = {n}: the {p.name} test and train splits "
                         f"have {counts['test']} and {counts['train']} images")
    nets = feature_networks(p, args.classifier, data.image_shape, data.n_classes, device)
    args.out.mkdir(parents=True, exist_ok=True)
    noise = noise_images(n, data.image_shape, torch.Generator().manual_seed(p.seed))
    values, detail, timing = {}, {}, {}
    for net in nets:
        start, images = time.perf_counter(), 0
        known: dict[str, torch.Tensor] = {}  # views that show the same images (8-bit and [-1, 1]) share features

        def extract(x: torch.Tensor) -> torch.Tensor:
            nonlocal images
            key = hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()
            if key not in known:
                known[key] = net.extract(x)
                images += len(x)
            return known[key]

        for view_name in p.views:
            v = view(view_name)
            feats = {}
            for split in ("test", "train"):
                feats[split] = extract(v.to_unit(v.heldout(data.images(split, n), split, p.seed)))
                save_features(args.out / f"{net.name}_{view_name}_{split}.npy", feats[split])
            noise_feats = extract(v.to_unit(v.heldout(noise, "test", p.seed))).numpy()
            real, fig = compare(feats["train"].numpy(), feats["test"].numpy(), net.name, p.kid, p.allow_small_sample,
                                p.seed)
            noisy, fig_noise = compare(noise_feats, feats["test"].numpy(), net.name, p.kid, p.allow_small_sample,
                                       p.seed)
            values[view_name] = {**values.get(view_name, {}),
                                 **{f"{k}_real_train_vs_test": val for k, val in real.items()},
                                 **{f"{k}_noise_vs_test": val for k, val in noisy.items()}}
            detail.setdefault(view_name, {})[net.name] = {
                "feature_network": net.description, "weights_sha256": net.weights_sha256,
                "real_train_vs_test": fig, "noise_vs_test": fig_noise}
            print(f"real_stats {p.name} [{view_name}] {net.name}: real train vs test "
                  + ", ".join(f"{k} {v:.4g}" for k, v in real.items())
                  + "; noise vs test " + ", ".join(f"{k} {v:.4g}" for k, v in noisy.items()))
        seconds = time.perf_counter() - start
        timing[net.name] = {"images": images, "seconds": seconds, "images_per_second": images / seconds}
    write_json(args.out / "networks.json", {net.name: {"description": net.description,
                                                       "weights_sha256": net.weights_sha256} for net in nets})
    record = {
        "stage": "real_stats", "model": "reference", "family": "reference", "dataset": p.name, "scale": p.scale,
        "sample_metrics": detail, "timing": timing,
        "protocol": {"real": f"first {n} images of the test split vs the first {n} of the training split, each "
                             "in the view named (a random view: one fixed draw per split)",
                     "noise": f"{n} images of i.i.d. N(0.5, 0.25^2) pixels clipped to [0, 1] and quantised to "
                              "8 bits, shown through the view, vs the test split",
                     "data_source": data.manifest["source"], "stand_in": data.manifest.get("stand_in")},
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=net_hash(nets)),
    }
    publish("real_stats", p.name, p, values, record, args.metrics, args.record)


def net_hash(nets) -> str:
    """One hash naming every feature network's weights."""
    import hashlib

    return hashlib.sha256("".join(n.weights_sha256 for n in nets).encode()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
