"""Stage 2 of the VQ models: fit the PixelCNN prior on extracted codes, then measure it (fit_prior@<prior>).

Training: the CodePrior (models/vq_prior.py) on the training split's code maps (and labels,
when class-conditional) with the one trainer; validation NLL in bits per code per level every
epoch; a grid of decoded prior samples (same noise) before training and after every epoch.
<out>/checkpoints/prior.pt is the resumable training state; once training is complete,
<out>/checkpoints/train.pt holds the VQ model and the prior together (what sample@<prior>
builds its sampler from).

Figures on the test split's codes:
- the prior's NLL in bits per code, per level and over all positions;
- the bits/dim bound with the fitted prior, (-log p(x|z_q(x)) - log p_prior(z(x))) / (D ln 2),
  beside the same bound under the uniform prior of stage 1 (models/vqvae.py derives both);
- sample grids (class per row for a class-conditional prior) and the sampling throughput.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch


PRIOR_CHECKPOINT = "prior.pt"
SAMPLER_CHECKPOINT = "train.pt"
CODE = ("workflows/vq_prior/fit.py", "models/vq_prior.py", "models/pixelcnn.py", "models/vqvae.py",
        "models/base.py", "models/__init__.py", "nn", "training", "images.py", "report/figures.py")


class Codes:
    """An extract_codes directory: per split the code maps by level, labels, -log p(x|z_q)."""

    def __init__(self, root: Path):
        import json

        from genlab.data.fetch import DataError

        self.root = Path(root)
        if not (self.root / "manifest.json").exists():
            raise DataError(f"{self.root}: no extracted codes here; run extract_codes first (dvc repro)")
        self.manifest = json.loads((self.root / "manifest.json").read_text())
        self.levels = tuple(self.manifest["levels"])

    def maps(self, split: str) -> list[torch.Tensor]:
        import numpy as np

        return [torch.from_numpy(np.load(self.root / f"{split}_{lv}.npy").astype(np.int64)) for lv in self.levels]

    def labels(self, split: str) -> torch.Tensor | None:
        import numpy as np

        path = self.root / f"{split}_y.npy"
        return torch.from_numpy(np.load(path)) if path.exists() else None

    def nll_x(self, split: str) -> torch.Tensor:
        import numpy as np

        return torch.from_numpy(np.load(self.root / f"{split}_nll_x.npy"))

    @property
    def sha256(self) -> str:
        from genlab.io import sha256_file

        return sha256_file(self.root / "manifest.json")


@torch.no_grad()
def test_nll(prior, codes: list[torch.Tensor], labels, batch_size: int, device) -> dict[str, torch.Tensor]:
    """Per-map NLL (nats) of every level on the test codes."""
    out: dict[str, list] = {}
    for i in range(0, len(codes[0]), batch_size):
        batch = [c[i:i + batch_size].to(device) for c in codes]
        lab = None if labels is None else labels[i:i + batch_size].to(device)
        for level, v in prior.nll(dict(zip(prior.levels, batch)), lab).items():
            out.setdefault(level, []).append(v.double().cpu())
    return {k: torch.cat(v) for k, v in out.items()}


def fit(p, data_dir: Path, codes_dir: Path, vq_dir: Path, out: Path, metrics: Path, record: Path, figures_dir: Path,
        device: torch.device) -> None:
    from genlab.data.prepared import Prepared
    from genlab.data.views import TensorBatches
    from genlab.images import epoch_panels, save_grid
    from genlab.io import sha256_file
    from genlab.models.pixelcnn import bits_per_code
    from genlab.models.vq_prior import VQPriorSampler, build
    from genlab.models.vqvae import bits_per_dim
    from genlab.pipeline import Section, load_trained, provenance_of, training_summary, weights_fingerprint
    from genlab.report import figures
    from genlab.tracking import publish
    from genlab.training.checkpoint import save_checkpoint
    from genlab.training.loop import mean_figures, trainer_for
    from genlab.training.run import run_training

    cfg, sampler_cfg = p.prior, p.sampler
    data = Prepared(data_dir)
    codes = Codes(codes_dir)
    vq_file = vq_dir / "checkpoints" / SAMPLER_CHECKPOINT
    vq_state, vq_sha256 = load_trained(vq_file), sha256_file(vq_file)
    if codes.manifest["checkpoint_sha256"] != vq_sha256:
        from genlab.pipeline import StageError
        raise StageError(f"{codes_dir}: extracted from another checkpoint than {vq_file}; rerun extract_codes")
    sampler: VQPriorSampler = build(Section({**sampler_cfg, "name": p.name}), data.image_shape, data.n_classes)
    sampler.vq.load_state_dict(vq_state["model"])
    sampler.to(device).eval()
    prior = sampler.prior
    conditional = prior.n_classes > 0

    def batches(split: str, n: int | None = None):
        maps = [c[:n] for c in codes.maps(split)]
        lab = codes.labels(split)
        return TensorBatches(*maps, *([lab[:n]] if conditional else []))

    train_data = batches("train", cfg.train.n_train)
    valid = batches("valid")
    fit_params = Section({k: v for k, v in p.items() if k != "prior"} | {"prior": {k: v for k, v in cfg.items()
                                                                                    if k != "evaluate"}})
    fingerprint = weights_fingerprint(fit_params, codes.sha256, CODE)
    prior_file = out / "checkpoints" / PRIOR_CHECKPOINT
    trainer = trainer_for(prior, train_data, cfg.train, checkpoint_path=prior_file, fingerprint=fingerprint,
                          device=device, seed=p.seed,
                          validate=lambda m: mean_figures(m, valid, cfg.train.batch_size, device))
    n_grid = cfg.evaluate.grid_size

    def grid(m, count: int) -> torch.Tensor:  # decoded samples from the same noise every epoch
        return sampler.to_unit(sampler.sample(count, generator=torch.Generator().manual_seed(p.seed))).cpu()

    shapes = ", ".join(f"{k} {h}x{w}" for k, (h, w) in prior.code_shapes.items())
    run_training(trainer, stage_params=p, out=out, images=grid, grid_size=8,
                 describe=f"fit_prior {p.name}: {sum(q.numel() for q in prior.parameters()):,} parameters, "
                          f"PixelCNN over {shapes} maps of K={codes.manifest['n_codes']} codes of {p.sampler.vq_model}"
                          f"{' (class-conditional)' if conditional else ''}; {len(train_data):,} training maps, "
                          f"{cfg.train.epochs} epochs on {device} (scale {p.scale})")
    state = load_trained(prior_file)
    prior.load_state_dict(state["model"])
    sampler.eval()
    sampler_file = out / "checkpoints" / SAMPLER_CHECKPOINT
    save_checkpoint(sampler_file, {"model": sampler.state_dict(), "complete": True, "epoch": state["epoch"],
                                   "history": state["history"], "fingerprint": fingerprint,
                                   "vq_checkpoint_sha256": vq_sha256})

    # ---- test figures
    test_maps, test_labels = codes.maps("test"), codes.labels("test") if conditional else None
    nll = test_nll(prior, [c.to(device) for c in test_maps], test_labels, cfg.evaluate.batch_size, device)
    n_pos = prior.n_positions
    total = sum(nll.values())
    d = codes.manifest["n_dims"]
    nll_x = codes.nll_x("test")
    uniform_nll = torch.full_like(nll_x, n_pos * math.log(codes.manifest["n_codes"]))   # -log (1/K)^n_pos
    values = {"test_bits_per_code": bits_per_code(total.mean(), n_pos).item(),
              **{f"test_{lv}_bits_per_code": bits_per_code(v.mean(), math.prod(prior.code_shapes[lv])).item()
                 for lv, v in nll.items()},
              "test_bpd": bits_per_dim(nll_x, total, d).mean().item(),
              "test_bpd_uniform_prior": bits_per_dim(nll_x, uniform_nll, d).mean().item(),
              "test_recon_bpd": bits_per_dim(nll_x, torch.zeros_like(nll_x), d).mean().item(),
              "train_epochs": state["epoch"]}

    figures_dir.mkdir(parents=True, exist_ok=True)
    n = n_grid
    start = time.perf_counter()
    x = sampler.sample(n * n, generator=torch.Generator().manual_seed(p.seed))
    seconds = time.perf_counter() - start
    made = [save_grid(sampler.to_unit(x).cpu(), figures_dir / "samples.png", n)]
    panels = epoch_panels(out / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{p.name}: decoded prior samples (same noise) during training"))
    history = state["history"]
    made.append(figures.curves({f"{p.name} ({data.name})": {
        "train (running mean)": ([r["epoch"] for r in history], [r["train_bits_per_code"] for r in history]),
        "validation": ([r["epoch"] for r in history], [r["valid_bits_per_code"] for r in history])}},
        figures_dir / "bits_per_code_curve.png", ("epoch", "bits per code")))
    rec = {
        "stage": "fit_prior", "model": p.name, "family": "vq_prior", "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(r["epoch_seconds"] for r in history)),
                   "sample_seconds": seconds, "sampled_codes_per_second": n * n * n_pos / seconds},
        "curves": {"bits_per_code": {"epoch": [r["epoch"] for r in history],
                                     "train": [r["train_bits_per_code"] for r in history],
                                     "valid": [r["valid_bits_per_code"] for r in history]}},
        "protocol": {
            "split": "test", "n_test": len(test_maps[0]), "vq_model": p.sampler.vq_model,
            "levels": list(prior.levels), "code_shapes": {k: list(v) for k, v in prior.code_shapes.items()},
            "n_codes": codes.manifest["n_codes"], "conditional": conditional, "n_dims": d,
            "bpd_formula": "bpd = (-log p(x|z_q(x)) - log p_prior(z(x))) / (D ln 2), the VQ-VAE's bound with the "
                           "fitted prior (uniform prior: -log p(z) = n_codes ln K)",
            "data_source": codes.manifest["data_source"], "stand_in": codes.manifest.get("stand_in"),
            "view": codes.manifest["view"],
        },
        "figures": [str(f) for f in made],
        "training": training_summary(history, prior),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, codes=codes.sha256,
                                    checkpoint=sha256_file(sampler_file)),
    }
    publish("fit_prior", p.name, p, values, rec, metrics, record, made)
    print(f"fit_prior {p.name}: test {values['test_bits_per_code']:.3f} bits/code ("
          + ", ".join(f"{lv} {values[f'test_{lv}_bits_per_code']:.3f}" for lv in prior.levels)
          + f"); bound {values['test_bpd']:.3f} bits/dim with the prior, {values['test_bpd_uniform_prior']:.3f} with the uniform prior; "
            f"{n * n} samples in {seconds:.1f} s")
