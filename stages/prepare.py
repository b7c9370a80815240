"""DVC stage `prepare@<dataset>`: fetch a data set from the source its params name and write the prepared splits.

    python stages/prepare.py --params resolved/<scale>/prepare/<dataset>.json --out data/<scale>/<dataset>

Runs src/genlab/data/<dataset>.py and writes <out>/ in the prepared format of the data
set's kind: images (src/genlab/data/prepared.py: per-split .npy arrays and manifest.json)
or parallel text (src/genlab/data/text.py: tokenized, vocabularies, ragged id arrays).
"""
from __future__ import annotations

import sys

from genlab.pipeline import load_slice, parse_args, stage_main


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(__doc__, argv, "params", "out"))


@stage_main
def run(args) -> None:
    from genlab import data
    from genlab.data import prepared

    p = load_slice(args.params)
    cfg = p.dataset
    module = data.module(p.name)
    print(f"prepare {p.name}: from the {cfg.source} source (scale {p.scale})")
    splits, source = module.load(cfg)
    limits = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
    if cfg.kind == "text":
        from genlab.data import text

        manifest = text.write(args.out, splits, source, p.name, module.LANGUAGES, cfg.vocab_size, cfg.max_length,
                              limits, module.PLACEHOLDER.pattern, min_count=cfg.min_count,
                              copy_unks=cfg.copy_unks)
        counts, vocab = manifest["counts"], manifest["vocab"]
        print(f"prepare {p.name}: wrote {args.out} (train {counts['train']}, valid {counts['valid']}, test "
              f"{counts['test']} pairs; vocabularies " + ", ".join(
                  f"{lang} {v['size']} (train coverage {v['coverage']['train']:.1%})" for lang, v in vocab.items())
              + f"; bad input {source.get('bad_input')})")
        return
    labelled = any(y is not None for _, y in splits.values())
    manifest = prepared.write(args.out, splits, source, p.name, list(module.CLASSES) if labelled else None,
                              limits)
    counts = manifest["counts"]
    print(f"prepare {p.name}: wrote {args.out} (train {counts['train']}, valid {counts['valid']}, "
          f"test {counts['test']}; image shape {manifest['image_shape']})")


if __name__ == "__main__":
    sys.exit(main())
