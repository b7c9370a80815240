"""DVC stage `sample@<model>`: draw a trained generator's samples once, for every sample metric.

    python stages/sample.py --params resolved/<scale>/sample/<model>.json --data data/<scale>/<dataset> \
        --checkpoint models/<scale>/<model> --out samples/<scale>/<model>

Writes <out>/samples.npy: n samples (seeded) in the model's view, mapped to [0, 1] and
stored as uint8 like an image file; a class-conditional model's labels follow the test
split's class frequencies (<out>/labels.npy), and its CAS training set (as many labelled
samples as the classifier saw real images, another seed) goes to <out>/cas_x.npy and
cas_y.npy; for a VQ model's prior, <out>/cas_test_recon.npy holds the VQ model's reconstructions of the
test split (CAS is also measured on them, Ravuri & Vinyals 2019). <out>/grid.png shows the first 64.
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, setup, stage_main

CHECKPOINT = "train.pt"  # every generative family's final weights: models/<scale>/<model>/checkpoints/train.pt


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "checkpoint", "out"))


@stage_main
def run(args) -> None:
    import json

    import numpy as np
    import torch

    from genlab.data.prepared import Prepared
    from genlab.images import save_grid
    from genlab.io import sha256_file
    from genlab.sampling import balanced_labels, draw_samples
    from genlab.models import build_model
    from genlab.pipeline import load_trained

    p = load_slice(args.params)
    device = setup(p)
    data = Prepared(args.data)
    ckpt = args.checkpoint / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt)
    model = build_model(p.model, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    labels = balanced_labels(p.n_samples, data.labels("test"), data.n_classes) if model.conditional else None
    print(f"sample {p.name}: {p.n_samples:,} samples" + (" (labels as the test split's class frequencies)"
                                                        if labels is not None else ""))
    x = draw_samples(model, p.n_samples, p.batch_size, p.seed, labels)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "samples.npy", x.numpy())
    if labels is not None:
        np.save(args.out / "labels.npy", labels.numpy())
    if p.cas:
        n_cas = p.n_cas or data.manifest["counts"]["train"]
        print(f"sample {p.name}: {n_cas:,} labelled samples for CAS")
        cas_y = balanced_labels(n_cas, data.labels("train"), data.n_classes)
        np.save(args.out / "cas_x.npy", draw_samples(model, n_cas, p.batch_size, p.seed + 1, cas_y).numpy())
        np.save(args.out / "cas_y.npy", cas_y.numpy())
        if hasattr(model, "reconstruct"):  # a VQ model's prior: CAS also on its reconstructions of the test split
            from genlab.data.views import view

            x_test = view(p.model.view).heldout(data.images("test"), "test", p.seed)
            recon = torch.cat([model.to_unit(model.reconstruct(x_test[i:i + p.batch_size].to(device))).cpu()
                               for i in range(0, len(x_test), p.batch_size)])
            print(f"sample {p.name}: reconstructions of the {len(x_test):,} test images (CAS's second test set)")
            np.save(args.out / "cas_test_recon.npy", (recon * 255).round().to(torch.uint8).numpy())
    save_grid(x[:64].float() / 255, args.out / "grid.png", 8)
    (args.out / "manifest.json").write_text(json.dumps({
        "model": p.name, "n_samples": p.n_samples, "seed": p.seed, "view": p.model.view,
        "stored": "the view's values mapped to [0, 1], as uint8 (x * 255 rounded)",
        "labels": "test-split class frequencies" if labels is not None else None,
        "checkpoint_sha256": sha256_file(ckpt)}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
