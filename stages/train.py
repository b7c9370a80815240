"""DVC stage `train@<model>`: fit one model with the shared training loop.

    python stages/train.py --model vae_mlp --data data/<scale>/mnist.npz --out models/<scale>/vae_mlp

Runs the train step of the model's family (src/genlab/workflows/<family>.py). Every family
writes <out>/checkpoints/ (resumable after every epoch; rerun after an interruption, it
resumes), <out>/history.csv (per-epoch figures, `valid_loss` plotted by DVC) and
<out>/samples/ (images across training).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.pipeline import load_params, setup, stage_main
from genlab.workflows import for_family


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a key of `models` in params.yaml")
    ap.add_argument("--data", type=Path, required=True, help="prepared .npz from the prepare stage")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params.model(args.model)
    device = setup(params)
    for_family(cfg.family).train(args.model, params, args.data, args.out, device)


if __name__ == "__main__":
    sys.exit(main())
