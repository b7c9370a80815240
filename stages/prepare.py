"""DVC stage `prepare`: fetch MNIST from the source params.yaml names and write the splits.

    python stages/prepare.py --out data/<scale>/mnist.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.data import mnist
from genlab.io import write_json
from genlab.pipeline import load_params, setup, stage_main


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="prepared .npz to write")
    args = ap.parse_args(argv)
    params = load_params()
    setup(params)
    cfg = params.mnist
    print(f"prepare: MNIST from the {cfg.source} source (scale {params.scale})")
    manifest = mnist.prepare(cfg, args.out)
    write_json(args.out.with_suffix(".json"), manifest)
    counts = manifest["counts"]
    print(f"prepare: wrote {args.out} (train {counts['train']}, valid {counts['valid']}, test {counts['test']}; "
          f"sha256 {manifest['sha256'][:12]})")


if __name__ == "__main__":
    sys.exit(main())
