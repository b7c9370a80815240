"""DVC stage `extract_codes@<vq model>`: the code maps of every split, stage 2's training data.

    python stages/extract_codes.py --params resolved/<scale>/extract_codes/<model>.json \
        --data data/<scale>/<dataset> --checkpoint models/<scale>/<model> --out codes/<scale>/<model>

Encodes every image of every split (view `eight_bit`, the VQ model in evaluation mode) and writes
<out>/<split>_<level>.npy (int16 code maps (N, h, w) per level: `codes`, or `top` and `bottom`),
<out>/<split>_y.npy (the labels, where the data set has them), <out>/<split>_nll_x.npy (each
image's -log p(x | z_q(x)) in nats under the decoder: with the prior's NLL of the codes it
gives the bits/dim bound) and <out>/manifest.json (levels, shapes, K, counts, hashes of the
checkpoint, the data and every array).
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, setup, stage_main

CHECKPOINT = "train.pt"
CODE = ("models/vqvae.py", "models/base.py", "models/__init__.py", "nn", "training/checkpoint.py",
        "training/runtime.py", "data/views.py", "data/prepared.py")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "checkpoint", "out"))


@stage_main
def run(args) -> None:
    import json
    import shutil

    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from genlab.data.prepared import SPLITS, Prepared
    from genlab.data.views import view
    from genlab.io import sha256_file
    from genlab.models import build_model
    from genlab.nn.discretized import discretized_logistic_log_prob
    from genlab.pipeline import code_hash, load_trained

    p = load_slice(args.params)
    device = setup(p)
    data = Prepared(args.data)
    ckpt = args.checkpoint / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt)
    model = build_model(p.model, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    if model.n_codes > np.iinfo(np.int16).max:
        raise ValueError(f"K = {model.n_codes} codes do not fit int16")
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    hashes, counts = {}, {}
    for split in SPLITS:
        x = data.images(split)
        maps: dict[str, list] = {}
        nll = []
        with torch.no_grad():
            for i in tqdm(range(0, len(x), p.batch_size), desc=f"codes of {split}", unit="batch", leave=False,
                          disable=None):
                xb = view(p.model.view).heldout(x[i:i + p.batch_size], split, p.seed).to(device)
                codes = model.encode(xb)
                mean, log_scale = model.decode_codes(codes)
                nll.append(-discretized_logistic_log_prob(xb, mean, log_scale).double().cpu())
                for level, c in codes.items():
                    maps.setdefault(level, []).append(c.cpu().to(torch.int16))
        arrays = {f"{split}_{level}": torch.cat(v).numpy() for level, v in maps.items()}
        arrays[f"{split}_nll_x"] = torch.cat(nll).numpy()
        labels = data.labels(split)
        if labels is not None:
            arrays[f"{split}_y"] = labels.numpy()
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", a)
            hashes[name] = sha256_file(tmp / f"{name}.npy")
        counts[split] = len(x)
        print(f"extract_codes {p.name}: {split}: {len(x):,} images -> " + ", ".join(
            f"{lv} {tuple(arrays[f'{split}_{lv}'].shape[1:])}" for lv in model.levels)
            + f"; -log p(x|z_q) {arrays[f'{split}_nll_x'].mean() / (model.n_dims * np.log(2)):.3f} bits/dim")
    manifest = {"model": p.name, "dataset": data.name, "levels": list(model.levels),
                "code_shapes": {k: list(v) for k, v in model.code_shapes.items()}, "n_codes": model.n_codes,
                "n_dims": model.n_dims, "image_shape": list(data.image_shape), "classes": data.manifest["classes"],
                "counts": counts, "sha256": hashes, "checkpoint_sha256": sha256_file(ckpt),
                "data_sha256": data.sha256, "code_sha256": code_hash(CODE), "view": p.model.view,
                "stand_in": data.manifest.get("stand_in"), "data_source": data.manifest["source"]}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(args.out)


if __name__ == "__main__":
    sys.exit(main())
