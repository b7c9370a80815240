"""DVC stage `fid_reference`: real-data feature statistics and the reference rows of every FID.

    python stages/fid_reference.py --data data/<scale>/mnist.npz --classifier models/<scale>/classifier \
        --out data/<scale>/fid_stats --metrics metrics/<scale>/reference/fid.json

For each feature network (the pipeline's MNIST classifier; TF-Inception when enabled):
the mean and covariance of the first n real test images and of the first n real training
images (<out>/<network>_<split>.npz, computed once and reused by every sample_quality
stage), and seed 001's reference rows: real train vs real test ("Real data 0.005") and
Gaussian-noise images vs real test ("Random Gaussian noise 83.06").
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from genlab.data.loaders import intensities
from genlab.data.mnist import load_prepared
from genlab.io import sha256_file
from genlab.metrics.fid import FeatureStats, check_sample_count, frechet_distance
from genlab.metrics.sample_quality import (NOISE_MEAN, NOISE_STD, classifier_network, gaussian_noise_images,
                                           inception_network)
from genlab.pipeline import StageError, load_params, provenance_of, setup, stage_main
from genlab.training.tracking import publish_metrics


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--classifier", type=Path, required=True, help="directory written by train_classifier")
    ap.add_argument("--out", type=Path, required=True, help="directory for the real-data statistics")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params()
    sq = params.sample_quality
    device = setup(params)
    splits = load_prepared(args.data)
    real = {split: intensities(splits[split][0]) for split in ("test", "train")}
    n = sq.n_samples
    for split, x in real.items():
        if len(x) < n:
            raise StageError(f"sample_quality.n_samples = {n}: the {split} split has only {len(x)} images")
    image_shape = tuple(real["test"].shape[1:])
    ckpt = args.classifier / "checkpoints" / "train.pt"
    networks = [classifier_network(params.classifier, ckpt, image_shape, device, sha256_file(ckpt))]
    if sq.inception.enabled:
        check_sample_count(n, "inception", sq.allow_small_sample)
        networks.append(inception_network(sq.inception, device))
    noise = gaussian_noise_images(n, image_shape, torch.Generator().manual_seed(params.seed))

    args.out.mkdir(parents=True, exist_ok=True)
    rows, timing = {}, {}
    for net in networks:
        start = time.perf_counter()
        stats = {split: FeatureStats.of(net.extract(x[:n]).numpy()) for split, x in real.items()}
        timing[net.name] = {"images": 2 * n, "seconds": time.perf_counter() - start}
        timing[net.name]["images_per_second"] = timing[net.name]["images"] / timing[net.name]["seconds"]
        for split, s in stats.items():
            s.save(args.out / f"{net.name}_{split}.npz")
        noise_stats = FeatureStats.of(net.extract(noise).numpy())
        real_vs_real = frechet_distance(stats["train"], stats["test"])
        noise_vs_real = frechet_distance(noise_stats, stats["test"])
        rows[net.name] = {
            "feature_network": net.description, "weights_sha256": net.weights_sha256,
            "real_train_vs_test": real_vs_real.value, "noise_vs_test": noise_vs_real.value,
            "n_real": n, "n_noise": n, "notes": real_vs_real.notes + noise_vs_real.notes,
        }
        print(f"fid_reference: fid_{net.name}: real train vs test {real_vs_real.value:.4f}, Gaussian noise vs test "
              f"{noise_vs_real.value:.2f} ({n:,} images each; features at "
              f"{timing[net.name]['images_per_second']:.0f} images/s)")
    resolved = {"scale": params.scale, "seed": params.seed, "sample_quality": sq.model_dump(),
                "classifier": params.classifier.model_dump()}
    record = {
        "model": "reference", "scale": params.scale, "fid": rows, "feature_timing": timing,
        "protocol": {"real": f"first {n} images of the test split vs the first {n} of the training split, "
                             "intensities x/255",
                     "noise": f"{n} images of i.i.d. N({NOISE_MEAN}, {NOISE_STD}^2) pixels clipped to [0, 1] "
                              "vs the test split"},
        "provenance": provenance_of(resolved, data=sha256_file(args.data), checkpoint=sha256_file(ckpt)),
    }
    values = {f"fid_{k}_{m}": v[m] for k, v in rows.items() for m in ("real_train_vs_test", "noise_vs_test")}
    publish_metrics("fid_reference", "reference", params.scale, resolved, values, record, args.metrics)


if __name__ == "__main__":
    sys.exit(main())
