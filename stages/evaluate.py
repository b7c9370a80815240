"""DVC stage `evaluate@<model>`: test-set likelihood bounds and the paper's figures for one model.

    python stages/evaluate.py --model vae_mlp --data data/<scale>/mnist.npz \
        --checkpoint models/<scale>/vae_mlp --metrics metrics/<scale>/vae_mlp.json \
        --figures reports/figures/<scale>/vae_mlp

Figures (nats per image and bits/dim): negative ELBO on the whole test split (one
reparameterised sample per image), and the negative IWAE bound with k importance samples
on the first n_iwae test images. Images: the final 8x8 sample grid, sample grids across
training epochs (seed 002 fig. 2), the 2-D latent manifold when z_dim = 2 (seed 002
fig. 3) and the test codes coloured by digit (seed 001 fig. 3.1; PCA of the posterior
means when z_dim > 2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image

from genlab.data.loaders import heldout_binarized
from genlab.data.mnist import load_prepared
from genlab.io import read_json, sha256_file, write_json
from genlab.metrics.likelihood import BPD_FORMULA, dataset_iwae, dataset_nelbo, nats_to_bpd
from genlab.models import build_model
from genlab.pipeline import StageError, load_params, provenance, resolved_params, setup, stage_main
from genlab.report import figures
from genlab.training.checkpoint import load_checkpoint
from genlab.training.tracking import Tracker

BINARIZATION_NOTE = {
    "threshold": "pixel/255 > 0.5, fixed (chosen to match seed 002's figure; see the report's note)",
    "stochastic": "Bernoulli(pixel/255): resampled every epoch in training, one fixed draw for valid/test",
}


def latent_manifold(model, size: int) -> torch.Tensor:
    """Decoder means on a size x size grid of N(0, I) quantiles (z_dim = 2)."""
    q = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    z = torch.distributions.Normal(0.0, 1.0).icdf(q)
    zz = torch.cartesian_prod(z.flip(0), z)[:, [1, 0]]  # rows: z2 high -> low, columns: z1 low -> high
    with torch.no_grad():
        return torch.sigmoid(model.decode(zz.to(next(model.parameters()).device)))


def epoch_panels(samples_dir: Path, max_panels: int = 5) -> dict[int, torch.Tensor]:
    """Training-time sample grids at up to `max_panels` epochs spread from 0 to the last."""
    files = sorted(samples_dir.glob("epoch_*.png"))
    if not files:
        return {}
    picks = sorted({round(i) for i in np.linspace(0, len(files) - 1, min(max_panels, len(files)))})
    return {int(files[i].stem.split("_")[1]): decode_image(str(files[i]), mode=ImageReadMode.GRAY).float() / 255
            for i in picks}


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True, help="model directory written by the train stage")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    ap.add_argument("--figures", type=Path, required=True, help="directory for this model's images")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params.model(args.model)
    ev = cfg.evaluate
    device = setup(params)

    splits = load_prepared(args.data)
    x_test_u8, y_test = splits["test"]
    x_test = heldout_binarized(x_test_u8, cfg.binarization, "test", params.seed)
    model = build_model(cfg, tuple(x_test.shape[1:])).to(device)
    ckpt_file = args.checkpoint / "checkpoint.pt"
    state = load_checkpoint(ckpt_file, map_location=device)
    if not state["complete"]:
        raise StageError(f"{ckpt_file}: training stopped after epoch {state['epoch']}; rerun the train stage")
    model.load_state_dict(state["model"])
    model.eval()
    d = model.n_dims

    print(f"evaluate {args.model}: negative ELBO on {len(x_test):,} test images")
    nelbo = dataset_nelbo(model, x_test, ev.batch_size, device)
    n_iwae = min(ev.n_iwae, len(x_test))
    print(f"evaluate {args.model}: IWAE bound, k={ev.iwae_k}, on {n_iwae:,} test images")
    iwae = dataset_iwae(model, x_test[:n_iwae], ev.iwae_k, ev.batch_size, device, progress=True)

    values = {
        "test_nelbo_nats": nelbo["nelbo"].mean().item(),
        "test_recon_nats": nelbo["recon"].mean().item(),
        "test_kl_nats": nelbo["kl"].mean().item(),
        "test_niwae_nats": iwae["niwae"].mean().item(),
        "test_nelbo_k_nats": iwae["nelbo"].mean().item(),
    }
    values["test_nelbo_bpd"] = nats_to_bpd(values["test_nelbo_nats"], d)
    values["test_niwae_bpd"] = nats_to_bpd(values["test_niwae_nats"], d)
    history = state["history"]
    values["train_epochs"] = state["epoch"]
    values["train_seconds"] = float(sum(row["epoch_seconds"] for row in history))
    values["valid_nelbo_nats"] = history[-1]["valid_nelbo"]

    # ---- images
    args.figures.mkdir(parents=True, exist_ok=True)
    made = []
    n = ev.grid_size
    made.append(figures.save_grid(model.sample(n * n, generator=torch.Generator().manual_seed(params.seed)),
                                  args.figures / "samples.png", n))
    panels = epoch_panels(args.checkpoint / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, args.figures / "samples_by_epoch.png",
                                          f"{args.model}: samples from fixed z during training"))
    with torch.no_grad():
        means = torch.cat([model.encode(x_test[i:i + ev.batch_size].to(device))[0].cpu()
                           for i in range(0, len(x_test), ev.batch_size)]).numpy()
    if cfg.model.z_dim == 2:
        made.append(figures.save_grid(latent_manifold(model, ev.manifold_size), args.figures / "manifold.png",
                                      ev.manifold_size))
        codes, axes = means, ("z1 (posterior mean)", "z2 (posterior mean)")
    else:
        from sklearn.decomposition import PCA

        codes, axes = PCA(n_components=2, random_state=params.seed).fit_transform(means), ("PC 1 of E[z|x]", "PC 2 of E[z|x]")
    made.append(figures.latent_scatter(codes, y_test.numpy(), args.figures / "latent.png",
                                       f"{args.model}: test codes (z_dim={cfg.model.z_dim})", axes))

    data_manifest = read_json(args.data.with_suffix(".json"))
    record = {
        "model": args.model,
        "family": cfg.family,
        "dataset": "mnist",
        "scale": params.scale,
        **values,
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "n_iwae": n_iwae,
            "iwae_k": ev.iwae_k,
            "elbo_samples_per_image": 1,
            "binarization": cfg.binarization,
            "binarization_detail": BINARIZATION_NOTE[cfg.binarization],
            "n_dims": d,
            "bpd_formula": BPD_FORMULA,
            "data_source": data_manifest["source"],
            "data_artifact": data_manifest.get("artifact", data_manifest.get("root")),
        },
        "figures": [str(p) for p in made],
        "provenance": provenance(params, args.model, data=sha256_file(args.data), checkpoint=sha256_file(ckpt_file)),
    }
    with Tracker("evaluate", args.model, params.scale, resolved_params(params, args.model)) as tracker:
        tracker.log_metrics(values)
        write_json(args.metrics, record)
        tracker.log_artifact(args.metrics)
        for p in made:
            tracker.log_artifact(p, "figures")
    print(f"evaluate {args.model}: test -ELBO {values['test_nelbo_nats']:.2f} nats ({values['test_nelbo_bpd']:.4f} bpd), "
          f"-IWAE(k={ev.iwae_k}) {values['test_niwae_nats']:.2f} nats ({values['test_niwae_bpd']:.4f} bpd)")


if __name__ == "__main__":
    sys.exit(main())
