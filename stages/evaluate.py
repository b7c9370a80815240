"""DVC stage `evaluate@<model>`: the paper's figures for one trained model.

    python stages/evaluate.py --params resolved/<scale>/evaluate/<model>.json --data data/<scale>/<dataset> \
        --checkpoint models/<scale>/<model> --metrics metrics/<scale>/<model>.json \
        --record reports/records/<scale>/<model>.json --figures reports/figures/<scale>/<model>

Runs src/genlab/workflows/<family>/evaluate.py: VAEs get likelihood bounds, auto-encoders
the fine-tuned and linear-probe test errors and the encoder's contraction figures. Writes
the flat metrics (numbers only), the record (the same numbers with protocol and
provenance) and the model's images.
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, setup, stage_main


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "checkpoint", "metrics", "record", "figures"))


@stage_main
def run(args) -> None:
    from genlab.workflows import step

    p = load_slice(args.params)
    device = setup(p)
    step(p.model.family, "evaluate").evaluate(p, args.data, args.checkpoint, args.metrics, args.record,
                                              args.figures, device)


if __name__ == "__main__":
    sys.exit(main())
