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

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, required=True, help="this stage's resolved params")
    ap.add_argument("--data", type=Path, required=True, help="prepared data set directory")
    ap.add_argument("--checkpoint", type=Path, required=True, help="model directory written by the train stage")
    ap.add_argument("--metrics", type=Path, required=True, help="flat metrics JSON to write")
    ap.add_argument("--record", type=Path, required=True, help="record JSON (figures, protocol, provenance)")
    ap.add_argument("--figures", type=Path, required=True, help="directory for this model's images")
    args = ap.parse_args(argv)
    from genlab.pipeline import load_slice, setup, stage_main

    @stage_main
    def run() -> None:
        from genlab.workflows import step

        p = load_slice(args.params)
        device = setup(p)
        step(p.model.family, "evaluate").evaluate(p, args.data, args.checkpoint, args.metrics, args.record,
                                                  args.figures, device)

    return run()


if __name__ == "__main__":
    sys.exit(main())
