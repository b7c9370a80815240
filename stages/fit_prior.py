"""DVC stage `fit_prior@<prior>`: stage 2 of a VQ model, the PixelCNN prior on its extracted codes.

    python stages/fit_prior.py --params resolved/<scale>/fit_prior/<prior>.json --data data/<scale>/<dataset> \
        --codes codes/<scale>/<vq model> --checkpoint models/<scale>/<vq model> --out models/<scale>/<prior> \
        --metrics metrics/<scale>/<prior>.json --record reports/records/<scale>/<prior>.json \
        --figures reports/figures/<scale>/<prior>

Runs src/genlab/workflows/vq_prior/fit.py: trains (resumable), then writes the test figures
(bits per code, the bits/dim bound with the prior), sample grids and the sampler checkpoint
<out>/checkpoints/train.pt that sample@<prior> reads.
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, setup, stage_main


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "data", "codes", "checkpoint", "out", "metrics", "record",
                          "figures"))


@stage_main
def run(args) -> None:
    from genlab.workflows.vq_prior.fit import fit

    p = load_slice(args.params)
    device = setup(p)
    fit(p, args.data, args.codes, args.checkpoint, args.out, args.metrics, args.record, args.figures, device)


if __name__ == "__main__":
    sys.exit(main())
