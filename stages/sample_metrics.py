"""DVC stage `sample_metrics@<model>`: FID and KID of a model's samples with its data set's feature networks, and CAS.

    python stages/sample_metrics.py --params resolved/<scale>/sample_metrics/<model>.json \
        --data data/<scale>/<dataset> --samples samples/<scale>/<model> --real features/<scale>/<dataset> \
        --classifier models/<scale>/classifier --metrics metrics/<scale>/samples/<model>.json \
        --record reports/records/<scale>/samples/<model>.json

Reads the samples of `sample@<model>` and the real test features of `real_stats@<dataset>`
in the view the model was trained on (a dequantized flow's: the 8-bit view, genlab.config.COMPARE_AS),
and computes for each feature network of the data set fid_<network> and kid_<network>
(Inception FID only from >= 2048 samples unless allow_small_sample). With the domain
classifier it also gives that classifier's Inception Score (is_classifier) and how far the
samples' classes (its argmax) are from the test split's (class_tv_classifier,
classes_under_half_classifier: a GAN's mode collapse shows there first). A class-conditional
model gets CAS (Ravuri & Vinyals 2019) on the domain classifier's data set, or on a set
whose `sample_metrics.datasets.<set>.cas_train` says how to train: the classifier
architecture, trained on the sample stage's labelled samples and tested on the real test
split. On a set without the domain classifier, the real-data row (`cas_real_top1_pct`) is
the same training on as many real training images.
Works for any generator: nothing here knows the model's family.
"""
from __future__ import annotations

import sys
from pathlib import Path

from genlab.pipeline import load_slice, parse_args, setup, stage_main

CODE = ("metrics/sample_quality.py", "metrics/fid.py", "metrics/kid.py", "metrics/inception.py",
        "metrics/classifier.py", "models/classifier.py", "models/base.py", "training", "data/views.py",
        "data/prepared.py")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "samples", "real", "classifier", "metrics", "record"))


@stage_main
def run(args) -> None:
    import json
    import tempfile
    import time

    import numpy as np
    import torch

    from genlab.data.prepared import Prepared
    from genlab.data.views import view
    from genlab.io import sha256_file
    from genlab.metrics.sample_quality import compare, feature_networks
    from genlab.pipeline import StageError, provenance_of
    from genlab.tracking import publish

    p = load_slice(args.params)
    device = setup(p)
    data = Prepared(args.data)
    samples_file = args.samples / "samples.npy"
    if not samples_file.exists():
        raise StageError(f"{samples_file}: not found; run the sample stage first (dvc repro)")
    x = torch.from_numpy(np.load(samples_file)).float() / 255
    nets = feature_networks(p, args.classifier, data.image_shape, data.n_classes, device)
    values, detail, hashes = {}, {}, {"samples": sha256_file(samples_file)}
    for net in nets:
        real_file = args.real / f"{net.name}_{p.view}_test.npy"
        if not real_file.exists():
            raise StageError(f"{real_file}: not found; run real_stats@{p.dataset} (dvc repro)")
        real = np.load(real_file)
        start = time.perf_counter()
        figs, info = compare(net.extract(x).numpy(), real, net.name, p.kid, p.allow_small_sample, p.seed)
        values.update(figs)
        detail[net.name] = {**info, "feature_network": net.description, "weights_sha256": net.weights_sha256,
                            "real_split": "test", "view": p.view, "seconds": time.perf_counter() - start}
        hashes[f"real_{net.name}"] = sha256_file(real_file)
        if net.class_probs is not None:  # the classifier's own Inception Score (MNIST's classes, not ImageNet's)
            from genlab.metrics.sample_quality import IS_FORMULA, class_balance, inception_score

            probs = net.class_probs(x).cpu().numpy()
            figs[f"is_{net.name}"], figs[f"is_{net.name}_std"] = inception_score(probs, seed=p.seed)
            detail[net.name]["inception_score"] = f"{IS_FORMULA}; p(y|x) of {net.description.split('(')[0].strip()}"
            balance, detail[net.name]["class_balance"] = class_balance(probs, data.labels("test").numpy(), net.name)
            figs.update(balance)
            values.update(figs)
        print(f"sample_metrics {p.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in figs.items())
              + f" ({len(x):,} samples vs {len(real):,} real test images, view {p.view})"
              + (f"; {'; '.join(info['notes'])}" if info["notes"] else ""))

    if p.cas:
        from genlab.metrics.classifier import accuracy, fit_classifier

        cas_x = torch.from_numpy(np.load(args.samples / "cas_x.npy")).float() / 255
        cas_y = torch.from_numpy(np.load(args.samples / "cas_y.npy"))
        # tested on real images in the view the samples are in (a binarized model's {0, 1} draws: binarized)
        x_test = view(p.view).to_unit(view(p.view).heldout(data.images("test"), "test", p.seed))
        from genlab.pipeline import Section

        cfg = p.classifier
        cfg = Section(cfg | {"train": {**cfg["train"], "n_train": None}})  # the sample stage drew exactly n_cas
        print(f"sample_metrics {p.name}: CAS: training the classifier on {len(cas_x):,} labelled samples")
        with tempfile.TemporaryDirectory() as tmp:
            clf, _ = fit_classifier(cas_x, cas_y, cfg, p.seed, Path(tmp) / "cas.pt", "cas", device,
                                    n_classes=data.n_classes)
        acc = accuracy(clf, x_test, data.labels("test"), p.classifier.evaluate.batch_size, device)
        values["cas_accuracy"], values["cas_top1_pct"] = acc, 100 * acc
        t = p.classifier["train"]
        detail["cas"] = {"train": f"{len(cas_x)} samples (labels in the training split's class frequencies), "
                                  f"{t['epochs']} epochs of {t['optimizer']} lr {t['lr']:g}, batch {t['batch_size']}",
                         "test": f"real test split ({len(x_test)} images) in view {p.view}"}
        print(f"sample_metrics {p.name}: CAS top-1 {100 * acc:.2f}%")
        if p.cas_real:   # the real-data row: the same classifier, trained the same way on as many real images
            x_all, y_all = data.images("train"), data.labels("train")
            keep = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(p.seed))[:len(cas_x)]
            x_real = view(p.view).to_unit(view(p.view).heldout(x_all[keep], "train", p.seed))
            y_real = y_all[keep]
            with tempfile.TemporaryDirectory() as tmp:
                clf_real, _ = fit_classifier(x_real, y_real, cfg, p.seed, Path(tmp) / "real.pt", "cas_real", device,
                                             n_classes=data.n_classes)
            acc_real = accuracy(clf_real, x_test, data.labels("test"), p.classifier.evaluate.batch_size, device)
            values["cas_real_accuracy"], values["cas_real_top1_pct"] = acc_real, 100 * acc_real
            detail["cas"]["real_data_row"] = (f"the same classifier trained the same way on {len(x_real)} real "
                                              f"training images (a seeded draw)")
            print(f"sample_metrics {p.name}: the same classifier trained on real images: top-1 {100 * acc_real:.2f}%")
        recon_file = args.samples / "cas_test_recon.npy"
        if recon_file.exists():  # Ravuri & Vinyals 2019: the same classifier on the VQ model's reconstructions
            x_recon = torch.from_numpy(np.load(recon_file)).float() / 255
            acc_r = accuracy(clf, x_recon, data.labels("test"), p.classifier.evaluate.batch_size, device)
            values["cas_recon_accuracy"], values["cas_recon_top1_pct"] = acc_r, 100 * acc_r
            detail["cas"]["test_recon"] = (f"the VQ model's reconstructions (decoder means) of the {len(x_recon)} "
                                           "real test images, stored as 8-bit images")
            hashes["cas_test_recon"] = sha256_file(recon_file)
            print(f"sample_metrics {p.name}: CAS top-1 on VQ reconstructions of the test images {100 * acc_r:.2f}%")

    manifest = json.loads((args.samples / "manifest.json").read_text())
    record = {
        "stage": "sample_metrics", "model": p.name, "dataset": p.dataset, "scale": p.scale,
        "sample_metrics": detail,
        "protocol": {"samples": f"{manifest['n_samples']} draws of the model in its view ({p.model_view}), "
                                f"seeded; labels: {manifest['labels'] or 'none (unconditional)'}",
                     "real": (f"the test split in view {p.view} ({view(p.view).description})"
                              + ("" if p.view == p.model_view else f"; the model trains on view {p.model_view}, "
                                 "whose dequantization noise is a training device: samples are stored as 8-bit "
                                 "images and compared with the 8-bit test images")),
                     "data_source": data.manifest["source"], "stand_in": data.manifest.get("stand_in")},
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=manifest["checkpoint_sha256"],
                                    **hashes),
    }
    publish("sample_metrics", p.name, p, values, record, args.metrics, args.record)


if __name__ == "__main__":
    sys.exit(main())
