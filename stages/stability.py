"""DVC stage `stability@<objective>-<generator>`: one cell of the WGAN paper's stability matrix.

    python stages/stability.py --params resolved/<scale>/stability/<cell>.json --data data/<scale>/<dataset> \
        --classifier models/<scale>/classifier --real features/<scale>/<dataset> --out models/<scale>/stability/<cell> \
        --metrics metrics/<scale>/stability/<cell>.json --record reports/records/<scale>/stability/<cell>.json \
        --figures reports/figures/<scale>/stability/<cell>

Trains the cell's GAN with the GAN family's train step (resumable; it keeps the generator
after every epoch), then scores every kept generator with the Fréchet classifier distance
(`fid_samples` samples against the real test split's features from real_stats) and the
distance of the same samples' classes from the test split's (class_tv_classifier; Arjovsky
et al. saw no mode collapse with WGAN in any experiment) and how much those samples differ
from one another (pixel_spread: 0 when every z gives one image, beside the real test
images' pixel_spread_real), and sets them beside that epoch's
training figures: the critic's Earth-Mover estimate (WGAN) or the discriminator's loss (GAN).
Arjovsky et al. claim the first tracks sample quality and the second does not; the record
gives both series and their Spearman correlation with the distance, the final distance and
class distance, and the cell's sample grid and curves.
"""
from __future__ import annotations

import sys

from genlab.pipeline import parse_args, stage_main

CODE = ("workflows/gan/train.py", "models/gan.py", "models/base.py", "models/__init__.py", "training",
        "data/views.py", "data/prepared.py", "images.py", "metrics/sample_quality.py", "metrics/fid.py",
        "metrics/kid.py", "metrics/classifier.py", "models/classifier.py", "sampling.py", "report/figures.py")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "classifier", "real", "out", "metrics", "record",
                          "figures"))


@stage_main
def run(args) -> None:
    import numpy as np
    import torch
    from scipy.stats import spearmanr
    from tqdm.auto import tqdm

    from genlab.data.prepared import Prepared
    from genlab.images import save_grid
    from genlab.io import sha256_file
    from genlab.metrics.fid import FeatureStats, frechet_distance
    from genlab.metrics.sample_quality import (CLASS_BALANCE_FORMULA, PIXEL_SPREAD_FORMULA, class_balance,
                                               classifier_network, pixel_spread)
    from genlab.models import build_model
    from genlab.pipeline import Section, StageError, load_slice, load_trained, provenance_of, setup
    from genlab.report import figures
    from genlab.sampling import draw_samples
    from genlab.tracking import publish
    from genlab.training.checkpoint import load_checkpoint
    from genlab.workflows.gan import train as gan_train

    p = load_slice(args.params)
    device = setup(p)
    # the train step reads what a model's train slice holds: the fingerprint covers exactly that
    train_p = Section({k: p[k] for k in ("scale", "seed", "runtime", "name", "model")})
    gan_train.train(train_p, args.data, args.out, device)

    data = Prepared(args.data)
    ckpt_file = args.out / "checkpoints" / gan_train.CHECKPOINT
    state = load_trained(ckpt_file)
    model = build_model(p.model, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    real_file = args.real / f"classifier_{p.view}_test.npy"
    if not real_file.exists():
        raise StageError(f"{real_file}: not found; run real_stats@{p.dataset} (dvc repro)")
    real = FeatureStats.of(np.load(real_file))
    net = classifier_network(p.classifier, args.classifier / "checkpoints" / "train.pt", data.image_shape,
                             data.n_classes, device)
    real_labels = data.labels("test").numpy()
    real_spread = pixel_spread(data.images("test", p.fid_samples).float() / 255)

    snapshots = sorted((args.out / "checkpoints" / "generators").glob("epoch_*.pt"),
                       key=lambda f: int(f.stem.split("_")[1]))   # by number: epoch_1000 after epoch_999
    if len(snapshots) != state["epoch"] + 1:
        raise StageError(f"{args.out}/checkpoints/generators: {len(snapshots)} snapshots for {state['epoch']} epochs; "
                         f"delete {args.out} and rerun this stage")
    history = {row["epoch"]: row for row in state["history"]}
    wgan = p.model.model.objective == "wgan"
    loss_key = "train_em_estimate" if wgan else "train_d_loss"
    rows = []
    for path in tqdm(snapshots, desc=f"stability {p.cell}: scoring checkpoints", unit="ckpt", disable=None):
        snap = load_checkpoint(path)
        model.generator.load_state_dict(snap["generator"])
        x = draw_samples(model, p.fid_samples, p.batch_size, p.seed).float() / 255
        fid = frechet_distance(FeatureStats.of(net.extract(x).numpy()), real).value
        balance, _ = class_balance(net.class_probs(x).cpu().numpy(), real_labels)
        row = history.get(snap["epoch"], {})
        rows.append({"epoch": snap["epoch"], "generator_updates": snap["generator_updates"], "fid_classifier": fid,
                     **balance, "pixel_spread": pixel_spread(x), loss_key: row.get(loss_key, float("nan"))})
    # the generator now holds the last snapshot: the trained generator
    trained = [r for r in rows if r["epoch"] > 0]
    rho = (float(spearmanr([r[loss_key] for r in trained], [r["fid_classifier"] for r in trained]).statistic)
           if len(trained) > 2 else float("nan"))
    values = {"fid_classifier": rows[-1]["fid_classifier"], "fid_classifier_start": rows[0]["fid_classifier"],
              "fid_classifier_best": min(r["fid_classifier"] for r in rows),
              "class_tv_classifier": rows[-1]["class_tv_classifier"],
              "classes_under_half_classifier": rows[-1]["classes_under_half_classifier"],
              "pixel_spread": rows[-1]["pixel_spread"], "pixel_spread_real": real_spread,
              "generator_updates": rows[-1]["generator_updates"], "train_epochs": state["epoch"]}
    if np.isfinite(rho):  # undefined below three trained checkpoints or for a constant series
        values[f"spearman_{loss_key.removeprefix('train_')}_vs_fid"] = rho

    args.figures.mkdir(parents=True, exist_ok=True)
    n = p.model.evaluate.grid_size
    made = [save_grid(model.to_unit(model.sample(n * n, generator=torch.Generator().manual_seed(p.seed))),
                      args.figures / "samples.png", n)]
    label = "critic's EM estimate" if wgan else "discriminator loss"
    made.append(figures.curves(
        {f"{p.cell}: Fréchet classifier distance": {"FID (classifier)": (
            [r["generator_updates"] for r in rows], [r["fid_classifier"] for r in rows])},
         f"{p.cell}: {label}": {label: ([r["generator_updates"] for r in trained], [r[loss_key] for r in trained])},
         f"{p.cell}: class TV (0: the data's class shares)": {"class TV": (
             [r["generator_updates"] for r in rows], [r["class_tv_classifier"] for r in rows])},
         f"{p.cell}: pixel spread (0: one image for every z)": {
             "samples": ([r["generator_updates"] for r in rows], [r["pixel_spread"] for r in rows]),
             "real test images": ([rows[0]["generator_updates"], rows[-1]["generator_updates"]],
                                  [real_spread, real_spread])}},
        args.figures / "curves.png", ("generator updates", "value")))
    rec = {
        "stage": "stability", "model": f"stability-{p.cell}", "cell": p.cell, "family": "gan", "dataset": data.name,
        "scale": p.scale, "objective": p.model.model.objective,
        "generator": {"arch": p.model.model.g_arch or p.model.model.arch,
                      "batch_norm": p.model.model.g_batch_norm if (p.model.model.g_arch or p.model.model.arch)
                      == "dcgan" else None},
        "curves": {"checkpoints": {k: [r[k] for r in rows] for k in rows[0]}},
        "protocol": {"fid": f"Fréchet classifier distance of {p.fid_samples} samples per checkpoint (generator "
                            f"batch norm in eval mode) to the real test split in view {p.view}; "
                            f"{net.description}",
                     "class_balance": f"the same samples' classes: {CLASS_BALANCE_FORMULA}",
                     "pixel_spread": f"the same samples' {PIXEL_SPREAD_FORMULA}; pixel_spread_real: the first "
                                     f"{p.fid_samples} real test images'",
                     "correlation": f"Spearman's rho between the epoch's mean {loss_key} and the distance after "
                                    "that epoch, over the trained checkpoints",
                     "data_source": data.manifest["source"]},
        "figures": [str(f) for f in made],
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file),
                                    real=sha256_file(real_file)),
    }
    publish("stability", f"stability-{p.cell}", p, values, rec, args.metrics, args.record, made)
    print(f"stability {p.cell}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))


if __name__ == "__main__":
    sys.exit(main())
