"""WMT'14 En->Fr data: the embedded gettext catalogs and the canonical SGML and plain-text files, both on files in
their real formats that the tests write (.mo catalogs inside a wheel, WMT's SGML, line-aligned corpora), and the
prepared text format (Moses tokens, vocabularies with <unk>, the length filter, ragged arrays)."""
from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genlab.pipeline import Section
from genlab.data import text, wmt14_enfr
from genlab.data.fetch import DataError


def write_mo(path: Path, messages: dict) -> None:
    """A GNU .mo catalog (the format msgfmt writes): keys are msgids (context\\x04msgid, or (singular, plural)
    for plural entries, whose value is a list of forms), values msgstrs; the header entry is added."""
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n"}
    for key, value in messages.items():
        if isinstance(key, tuple):
            entries["\0".join(key)] = "\0".join(value)
        else:
            entries[key] = value
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") if isinstance(entries[k], str) else entries[k] for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n
    offsets, blob = [], b""
    for s in ids + strs:
        offsets.append((len(s), start + len(blob)))
        blob += s + b"\0"
    header = struct.pack("Iiiiiii", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    table = b"".join(struct.pack("ii", length, off) for length, off in offsets)
    path.write_bytes(header + table + blob)


def fake_wheel(cache: Path, package: str, version: str, catalogs: dict[str, dict]) -> str:
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, messages in catalogs.items():
            tmp = cache / "tmp.mo"
            write_mo(tmp, messages)
            zf.write(tmp, member)
            tmp.unlink()
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def _embedded_cfg(tmp_path, monkeypatch, catalogs):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    sha = fake_wheel(tmp_path / "cache" / "wheels", "langpack", "1.0", catalogs)
    return Section({"source": "embedded", "embedded": {
        "wheels": [{"package": "langpack", "version": "1.0", "sha256": sha, "members": r"fr/LC_MESSAGES/.*\.mo$"}],
        "split_train": 800, "split_valid": 900}})


def test_catalog_pairs_are_read_cleaned_and_every_bad_entry_counted(tmp_path, monkeypatch):
    messages = {
        "Open file": "Ouvrir le fichier",
        "menu\x04Save  all": "Tout\n enregistrer",                 # context stripped, whitespace collapsed
        "%(count)s files in %(dir)s": "%(count)s fichiers",         # placeholders disagree: counted, dropped
        "Empty translation": "",                                   # untranslated: gettext leaves it out
        ("One file", "%d files"): ["Un fichier", "%d fichiers"],    # plural: skipped, counted
        "Cancel": "Annuler",
    }
    cfg = _embedded_cfg(tmp_path, monkeypatch, {"pkg/locale/fr/LC_MESSAGES/a.mo": messages,
                                                "pkg/locale/fr/LC_MESSAGES/b.mo": {"Cancel": "Annuler",
                                                                                   "Close {0}": "Fermer {0}"},
                                                "pkg/locale/de/LC_MESSAGES/a.mo": {"Cancel": "Abbrechen"}})
    splits, source = wmt14_enfr.load(cfg)
    pairs = sorted(p for s in splits.values() for p in s)
    assert pairs == [("Cancel", "Annuler"), ("Close {0}", "Fermer {0}"), ("Open file", "Ouvrir le fichier"),
                     ("Save all", "Tout enregistrer")]
    bad = source["bad_input"]
    assert bad["placeholder_mismatch"] == 1 and bad["plural_forms_skipped"] >= 1 and bad["duplicates"] == 1
    for split, rows in splits.items():   # the split is a function of the English side alone
        for english, _ in rows:
            assert wmt14_enfr.split_of(english, 800, 900) == split


def test_a_wheel_without_catalogs_is_an_error_naming_the_pattern(tmp_path, monkeypatch):
    cfg = _embedded_cfg(tmp_path, monkeypatch, {"pkg/locale/de/LC_MESSAGES/a.mo": {"Cancel": "Abbrechen"}})
    with pytest.raises(DataError, match="no member matches"):
        wmt14_enfr.load(cfg)


def _sgml(path: Path, segments: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ['<srcset setid="newstest" srclang="any">', '<doc sysid="ref" docid="1" genre="news" origlang="en">']
    lines += [f'<seg id="{i + 1}">{s}</seg>' for i, s in enumerate(segments)] + ["</doc>", "</srcset>"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_canonical_dev_test_from_sacrebleus_layout_and_line_aligned_corpora(tmp_path):
    root = tmp_path / "wmt"
    for name, en, fr in (("wmt12", "test/newstest2012-src.en.sgm", "test/newstest2012-src.fr.sgm"),
                         ("wmt13", "test/newstest2013-src.en.sgm", "test/newstest2013-src.fr.sgm"),
                         ("wmt14", "test/newstest2014-fren-src.en.sgm", "test/newstest2014-fren-ref.fr.sgm")):
        _sgml(root / name / "raw" / en, [f"{name} first sentence .", "Second one"])
        _sgml(root / name / "raw" / fr, [f"{name} première phrase .", "Deuxième"])
    (root / "training").mkdir()
    (root / "training/ep.en").write_bytes(b"Hello world\n\nBad \xff byte\nThe end\n")
    (root / "training/ep.fr").write_bytes("Bonjour le monde\nVide\nMauvais octet\nLa fin\n".encode())
    cfg = Section({"source": "canonical", "canonical_root": str(root), "download": False,
                   "train_corpora": [{"en": "training/ep.en", "fr": "training/ep.fr"}]})
    splits, source = wmt14_enfr.load(cfg)
    assert splits["test"] == [("wmt14 first sentence .", "wmt14 première phrase ."), ("Second one", "Deuxième")]
    assert len(splits["valid"]) == 4 and splits["valid"][0][0].startswith("wmt12")
    assert splits["train"] == [("Hello world", "Bonjour le monde"), ("The end", "La fin")]
    assert source["bad_input"]["undecodable_lines"] == 1 and source["bad_input"]["empty_side"] == 1
    (root / "training/ep.fr").write_text("one line\n")
    with pytest.raises(DataError, match="4 English lines against 1 French"):
        wmt14_enfr.load(cfg)


def test_prepared_text_round_trip_vocabulary_and_length_filter(tmp_path):
    pairs = {"train": [("Open the file", "Ouvrir le fichier"), ("Open %(name)s now", "Ouvrir %(name)s maintenant"),
                       ("Close the file", "Fermer le fichier"),
                       ("a b c d e f g h i j", "a b c d e f g h i j")],           # too long: dropped, counted
             "valid": [("Open the window", "Ouvrir la fenêtre")],
             "test": [("Close", "Fermer")]}
    manifest = text.write(tmp_path / "out", pairs, {"source": "test"}, "wmt14_enfr", ("en", "fr"), vocab_size=4,
                          max_length=6, limits={}, protect=wmt14_enfr.PLACEHOLDER.pattern)
    assert manifest["counts"] == {"train": 3, "valid": 1, "test": 1}
    assert manifest["dropped_too_long_or_empty"]["train"] == 1
    data = text.PreparedText(tmp_path / "out")
    vocab = data.vocab("en")
    # the 4 most frequent training tokens after the specials: count 2 (Open, file, the), then the first of count 1
    # by code point; ties go by token so the vocabulary does not depend on the order of the pairs
    assert vocab == list(text.SPECIALS) + ["Open", "file", "the", "%(name)s"]
    tokens = text.Tokenizer("en", wmt14_enfr.PLACEHOLDER.pattern)("Open %(name)s now")
    assert tokens == ["Open", "%(name)s", "now"]                                 # the placeholder is one token
    first = data.sentences("train", "en")[0]
    assert [vocab[i] for i in first] == ["Open", "the", "file"]
    assert [vocab[i] for i in data.sentences("train", "en")[1]] == ["Open", "%(name)s", "<unk>"]
    assert data.raw("test", "fr") == ["Fermer"]
    assert [vocab[i] for i in data.sentences("valid", "en")[0]] == ["Open", "the", "<unk>"]   # no "window"
    assert np.load(tmp_path / "out" / "train.en.offsets.npy").tolist()[0] == 0


def test_the_model_and_the_prepared_format_agree_on_the_special_ids():
    from genlab.models import gru_encdec

    assert (text.PAD, text.UNK, text.BOS, text.EOS) == (gru_encdec.PAD, gru_encdec.UNK, gru_encdec.BOS, gru_encdec.EOS)
    batch = text.PairBatches([[5, 6], [7]], [[8], [9, 10]])
    src, tgt = batch[[0, 1]]
    assert src.tolist() == [[5, 6], [7, text.PAD]] and tgt.tolist() == [[8, text.EOS, text.PAD], [9, 10, text.EOS]]


def test_copyable_unknowns_are_numbered_per_sentence_tied_to_the_target_and_restored(tmp_path):
    """Luong et al. 2015's copyable model: words seen once in training (min_count 2) are unknown; a source's
    distinct unknowns become <unk1>, <unk2> in order (after copy_unks of them, plain <unk>), a target word
    identical to one gets the same id, any other unknown target word is <unk>."""
    pairs = {"train": [("Open Paris", "Ouvrir Paris"), ("Open file", "Ouvrir fichier"), ("file", "fichier")],
             "valid": [("Open Lyon Nice Lyon Brest", "Ouvrir Nice Lyon Rennes Brest")],
             "test": [("Nice", "Nice")]}
    manifest = text.write(tmp_path / "out", pairs, {"source": "test"}, "wmt14_enfr", ("en", "fr"), vocab_size=10,
                          max_length=8, limits={}, protect=None, min_count=2, copy_unks=2)
    data = text.PreparedText(tmp_path / "out")
    en, fr = data.vocab("en"), data.vocab("fr")
    assert en == list(text.SPECIALS) + ["<unk1>", "<unk2>", "Open", "file"]           # "Paris" seen once
    assert fr == list(text.SPECIALS) + ["<unk1>", "<unk2>", "Ouvrir", "fichier"]
    assert [en[i] for i in data.sentences("train", "en")[0]] == ["Open", "<unk1>"]
    assert [fr[i] for i in data.sentences("train", "fr")[0]] == ["Ouvrir", "<unk1>"]    # Paris = Paris: tied
    # Lyon is <unk1> both times, Nice <unk2>, Brest the third unknown: plain <unk>; Rennes is not in the source
    assert [en[i] for i in data.sentences("valid", "en")[0]] == ["Open", "<unk1>", "<unk2>", "<unk1>", "<unk>"]
    assert [fr[i] for i in data.sentences("valid", "fr")[0]] == ["Ouvrir", "<unk2>", "<unk1>", "<unk>", "<unk>"]
    assert data.numbered_unknowns("valid") == [["Lyon", "Nice"]] and data.numbered_unknowns("train")[1] == []
    assert manifest["copy_unks"] == 2 and manifest["numbered_unknown_source_words"]["valid"] == 2
    assert [data.is_unknown(i) for i in range(len(fr))] == [False, True, False, False, True, True, False, False]
    translation = ["Ouvrir", "<unk2>", "<unk1>", "<unk>", "<unk3>"]                     # <unk3>: no third word
    assert text.restore_unknowns(translation, ["Lyon", "Nice"]) == ["Ouvrir", "Nice", "Lyon", "<unk>", "<unk3>"]


def test_without_copyable_unknowns_the_vocabulary_is_the_papers(tmp_path):
    pairs = {"train": [("Open Paris", "Ouvrir Paris")], "valid": [("Open", "Ouvrir")], "test": [("Lyon", "Lyon")]}
    text.write(tmp_path / "out", pairs, {"source": "test"}, "wmt14_enfr", ("en", "fr"), vocab_size=10,
               max_length=8, limits={}, protect=None)
    data = text.PreparedText(tmp_path / "out")
    assert data.vocab("en") == list(text.SPECIALS) + ["Open", "Paris"]
    assert data.sentences("test", "en")[0].tolist() == [text.UNK] and data.numbered_unknowns("test") == [[]]
    assert not (tmp_path / "out" / "test.en.unk.txt").exists() and not data.is_unknown(4)


def test_regrouped_batches_keep_every_pair_once_pad_less_and_replay_from_the_generator_state():
    import torch

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (200,), generator=g).tolist()
    data = text.PairBatches([[5] * n for n in lengths], [[6] * n for n in lengths], sort_k_batches=5)
    order = torch.randperm(200, generator=g).tolist()
    batches = [order[i:i + 16] for i in range(0, 200, 16)]
    state = g.get_state()
    regrouped = data.regroup(batches, g)
    assert sorted(i for b in regrouped for i in b) == list(range(200))
    assert sorted(len(b) for b in regrouped) == sorted(len(b) for b in batches)

    def padded(bs):   # target positions the batches pad
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in bs)
    assert padded(regrouped) < padded(batches) / 3
    g.set_state(state)
    assert data.regroup(batches, g) == regrouped                     # a resumed epoch redraws the same batches
    assert text.PairBatches([[5]], [[6]]).regroup(batches, g) == batches   # off: unchanged


def test_a_known_source_word_the_decoder_cannot_write_but_training_targets_hold_verbatim_is_copyable(tmp_path):
    """'Honduras' is frequent enough in English (min_count 2) but seen once in French: it is copied; 'open' is
    never written verbatim on the French side, so it stays a source word."""
    pairs = {"train": [("Honduras", "Honduras"), ("open Honduras", "ouvrir le pays"), ("open", "ouvrir"),
                       ("open", "ouvrir")],
             "valid": [("open", "ouvrir")], "test": [("open Honduras", "ouvrir Honduras")]}
    text.write(tmp_path / "out", pairs, {"source": "test"}, "wmt14_enfr", ("en", "fr"), vocab_size=10,
               max_length=8, limits={}, protect=None, min_count=2, copy_unks=1)
    data = text.PreparedText(tmp_path / "out")
    en, fr = data.vocab("en"), data.vocab("fr")
    assert "Honduras" in en and "Honduras" not in fr and "open" in en
    assert [en[i] for i in data.sentences("test", "en")[0]] == ["open", "<unk1>"]
    assert [fr[i] for i in data.sentences("test", "fr")[0]] == ["ouvrir", "<unk1>"]
    assert data.numbered_unknowns("test") == [["Honduras"]]
