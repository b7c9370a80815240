"""DVC stage `train@<model>`: fit one model with the one trainer.

    python stages/train.py --params resolved/<scale>/train/<model>.json --data data/<scale>/<dataset> \
        --out models/<scale>/<model>

Runs src/genlab/workflows/<family>/train.py. Every family writes <out>/checkpoints/
(resumable; rerun after an interruption, it resumes; a complete one is kept as it is),
<out>/history.csv (per-epoch figures, `valid_loss` plotted by DVC) and <out>/samples/
(images across training).
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, setup, stage_main


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "out"))


@stage_main
def run(args) -> None:
    from genlab.workflows import step

    p = load_slice(args.params)
    device = setup(p)
    step(p.model.family, "train").train(p, args.data, args.out, device)


if __name__ == "__main__":
    sys.exit(main())
