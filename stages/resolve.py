"""DVC stage `resolve`: validate params.yaml at every scale and write each stage's slice of it.

    python stages/resolve.py --out resolved/<scale>

Writes <out>/<stage>/<name>.json (see genlab.config.stage_slices): every other stage
depends on its own slice instead of on params.yaml, so it reruns exactly when a value it
reads changes. A file whose content is unchanged is not rewritten. <out>/tracking.json holds
the MLflow mode (genlab.tracking), which no stage depends on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="directory for the per-stage params")
    args = ap.parse_args(argv)
    from genlab.config import ConfigError, load_params, stage_slices

    try:
        params = load_params()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    slices = stage_slices(params)
    # read by genlab.tracking, a dependency of no stage: the mode decides no number
    files = {**slices, "tracking.json": params.tracking.model_dump()}
    for rel, content in files.items():
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(content, indent=2, sort_keys=True) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    print(f"resolve: {len(slices)} stage params in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
