"""DVC stage `sample_quality@<model>`: Fréchet distances of a model's samples, and CAS.

    python stages/sample_quality.py --model vae_conv_cond --data data/<scale>/mnist.npz \
        --checkpoint models/<scale>/vae_conv_cond --classifier models/<scale>/classifier \
        --stats data/<scale>/fid_stats --metrics metrics/<scale>/samples/vae_conv_cond.json

Draws `sample_quality.n_samples` samples (Bernoulli means, seeded; a class-conditional
model draws every class equally often) and compares them with the real test split's
statistics from the fid_reference stage: `fid_classifier` always, `fid_inception` when
enabled. A class-conditional model also gets CAS: the classifier architecture, with the
reference classifier's params, trained on as many labelled samples as it saw real training
images, and tested on the real test split.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from genlab.data.loaders import intensities
from genlab.data.mnist import load_prepared
from genlab.io import sha256_file
from genlab.metrics.classifier import accuracy, fit_classifier
from genlab.metrics.fid import FeatureStats, check_sample_count, frechet_distance
from genlab.metrics.sample_quality import classifier_network, inception_network
from genlab.models import N_CLASSES, build_model
from genlab.pipeline import load_params, load_trained, provenance_of, resolved_params, setup, stage_main
from genlab.training.tracking import publish_metrics
from genlab.workflows.vae import CHECKPOINT


@torch.no_grad()
def draw_samples(model, n: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples in [0, 1] (and their labels: i mod n_classes, for a conditional model)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % N_CLASSES if model.conditional else None
    out = [model.sample(min(batch_size, n - i), generator=generator,
                        labels=None if labels is None else labels[i:i + batch_size]).cpu()
           for i in range(0, n, batch_size)]
    return torch.cat(out), labels


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True, help="model directory written by the train stage")
    ap.add_argument("--classifier", type=Path, required=True, help="directory written by train_classifier")
    ap.add_argument("--stats", type=Path, required=True, help="directory written by fid_reference")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args(argv)
    params = load_params()
    sq = params.sample_quality
    cfg = params.model(args.model)
    device = setup(params)
    splits = load_prepared(args.data)
    x_test, y_test = intensities(splits["test"][0]), splits["test"][1]
    image_shape = tuple(x_test.shape[1:])

    ckpt = args.checkpoint / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt, device)
    model = build_model(cfg, image_shape).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    n = sq.n_samples
    print(f"sample_quality {args.model}: {n:,} samples")
    samples, labels = draw_samples(model, n, sq.batch_size, params.seed)

    clf_ckpt = args.classifier / "checkpoints" / "train.pt"
    networks = [classifier_network(params.classifier, clf_ckpt, image_shape, device, sha256_file(clf_ckpt))]
    if sq.inception.enabled:
        check_sample_count(n, "inception", sq.allow_small_sample)
        networks.append(inception_network(sq.inception, device))
    values, detail = {}, {}
    for net in networks:
        stats_file = args.stats / f"{net.name}_test.npz"
        real = FeatureStats.load(stats_file)
        start = time.perf_counter()
        result = frechet_distance(FeatureStats.of(net.extract(samples).numpy()), real)
        values[f"fid_{net.name}"] = result.value
        detail[f"fid_{net.name}"] = {"feature_network": net.description, "weights_sha256": net.weights_sha256,
                                     "n_samples": n, "n_real": real.n, "real_split": "test",
                                     "real_stats_sha256": sha256_file(stats_file), "notes": result.notes,
                                     "seconds": time.perf_counter() - start}
        print(f"sample_quality {args.model}: fid_{net.name} {result.value:.3f} ({n:,} samples vs {real.n:,} real "
              f"test images)" + (f"; {'; '.join(result.notes)}" if result.notes else ""))

    if model.conditional:
        # as many labelled samples as the reference classifier saw real images, so the two rows share a protocol
        n_cas = len(splits["train"][0][: params.classifier.train.n_train])
        print(f"sample_quality {args.model}: CAS: training the classifier on {n_cas:,} labelled samples")
        cas_x, cas_y = draw_samples(model, n_cas, sq.batch_size, params.seed + 1)
        with tempfile.TemporaryDirectory() as tmp:
            clf, _ = fit_classifier(cas_x, cas_y, params.classifier, params.seed, Path(tmp) / "cas.pt", "cas",
                                    device)
        values["cas_accuracy"] = accuracy(clf, x_test, y_test, params.classifier.evaluate.batch_size, device)
        detail["cas_accuracy"] = {"train": f"{n_cas} samples (labels i mod {N_CLASSES}) with the classifier "
                                           "block's params",
                                  "test": f"real test split ({len(x_test)} images)"}
        values["cas_top1_pct"] = 100 * values["cas_accuracy"]
        print(f"sample_quality {args.model}: CAS top-1 {100 * values['cas_accuracy']:.2f}%")

    resolved = {**resolved_params(params, args.model), "sample_quality": sq.model_dump(),
                "classifier": params.classifier.model_dump()}
    record = {
        "model": args.model, "scale": params.scale, **values, "sample_metrics": detail,
        "protocol": {"samples": "Bernoulli means of p(x|z[,y]), z ~ N(0, I), seeded",
                     "real": "intensities x/255 of the test split"},
        "provenance": provenance_of(resolved, data=sha256_file(args.data), checkpoint=sha256_file(ckpt),
                                    classifier=sha256_file(clf_ckpt)),
    }
    publish_metrics("sample_quality", args.model, params.scale, resolved, values, record, args.metrics)


if __name__ == "__main__":
    sys.exit(main())
