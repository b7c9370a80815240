"""DVC stage `train@<model>`: fit one model with the one trainer.

    python stages/train.py --params resolved/<scale>/train/<model>.json --data data/<scale>/<dataset> \
        --out models/<scale>/<model>

Runs src/genlab/workflows/<family>/train.py. Every family writes <out>/checkpoints/
(resumable; rerun after an interruption, it resumes; a complete one is kept as it is),
<out>/history.csv (per-epoch figures, `valid_loss` plotted by DVC) and <out>/samples/
(images across training).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, required=True, help="this stage's resolved params")
    ap.add_argument("--data", type=Path, required=True, help="prepared data set directory")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write")
    args = ap.parse_args(argv)
    from genlab.pipeline import load_slice, setup, stage_main

    @stage_main
    def run() -> None:
        from genlab.workflows import step

        p = load_slice(args.params)
        device = setup(p)
        step(p.model.family, "train").train(p, args.data, args.out, device)

    return run()


if __name__ == "__main__":
    sys.exit(main())
