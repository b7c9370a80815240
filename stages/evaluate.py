"""DVC stage `evaluate@<model>`: the paper's figures for one trained model.

    python stages/evaluate.py --model vae_mlp --data data/<scale>/mnist.npz \
        --checkpoint models/<scale>/vae_mlp --metrics metrics/<scale>/vae_mlp.json \
        --figures reports/figures/<scale>/vae_mlp

Runs the evaluate step of the model's family (src/genlab/workflows/<family>.py): VAEs get
likelihood bounds, auto-encoders the fine-tuned and linear-probe test errors and the
encoder's contraction figures. Writes the metrics JSON (figures, protocol, provenance)
and the model's images.
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
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True, help="model directory written by the train stage")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    ap.add_argument("--figures", type=Path, required=True, help="directory for this model's images")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params.model(args.model)
    device = setup(params)
    for_family(cfg.family).evaluate(args.model, params, args.data, args.checkpoint, args.metrics, args.figures,
                                    device)


if __name__ == "__main__":
    sys.exit(main())
