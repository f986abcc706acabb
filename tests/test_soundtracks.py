"""The real-music corpus builder on generated files: packages found, archives extracted, duplicates read once,
damaged files left out, split by track per package, the rendered corpus's train split joined, clear install errors."""

import csv
import json
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf

from vit1d.data import soundtracks
from vit1d.data.sources import open_tracks

SR = 16000


def write_track(path, seed, seconds=3.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR)).astype(np.float32)
    sf.write(path, audio, SR)
    return str(path)


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Two fake soundtrack packages: one of plain files (with a link and a byte copy), one inside a zip archive."""
    root = tmp_path / "usr"
    plain = [write_track(root / "plain" / f"track{i}.ogg", i) for i in range(6)]
    link = root / "plain" / "de" / "track0.ogg"
    link.parent.mkdir()
    link.symlink_to(plain[0])
    copy = root / "plain" / "fr" / "track1.ogg"
    copy.parent.mkdir()
    copy.write_bytes(open(plain[1], "rb").read())
    damaged = root / "plain" / "track9.ogg"
    damaged.write_bytes(open(plain[2], "rb").read()[:3000])  # cut short
    archive = root / "zipped" / "music.pk3"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        for i in range(4):
            bundle.write(write_track(tmp_path / "src" / f"cd{i}.ogg", 10 + i), f"sound/cdtracks/cd{i}.ogg")
        bundle.writestr("maps/readme.txt", "not music")
    files = {"plain-music": [*plain, str(link), str(copy), str(damaged)], "zipped-music": [str(archive)]}
    monkeypatch.setattr(soundtracks, "SOUNDTRACKS", {
        "plain-music": soundtracks.Soundtrack("GPL-2+", "test"),
        "zipped-music": soundtracks.Soundtrack("CC0", "test", archive_members="sound/cdtracks/"),
    })
    monkeypatch.setattr(soundtracks, "installed_files", lambda package: files.get(package))
    return files


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_manifests_hold_each_distinct_readable_track_once_split_by_package(tmp_path, fake_packages):
    out = tmp_path / "real"
    summary = soundtracks.prepare_soundtracks(out, split_fractions=(0.5, 0.25, 0.25))
    rows = {split: read_csv(out / f"{split}.csv") for split in ("train", "validation", "test")}
    every = [row for split_rows in rows.values() for row in split_rows]
    # 6 plain tracks (the link, the copy and the damaged file left out) and 4 extracted from the archive.
    assert sorted(row["package"] for row in every) == ["plain-music"] * 6 + ["zipped-music"] * 4
    assert len({row["digest"] for row in every}) == 10
    assert summary["packages"]["plain-music"]["left_out_damaged"] == 1
    extracted = [row["audio"] for row in every if row["package"] == "zipped-music"]
    assert all(path.startswith(str(out / "extracted" / "zipped-music")) for path in extracted)
    for split, split_rows in rows.items():  # every package is in every split
        assert {row["package"] for row in split_rows} == {"plain-music", "zipped-music"}, split
    assert all(float(row["duration"]) == pytest.approx(3.0) and row["licence"] for row in every)
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["tracks"] == len(rows["train"])
    # The same call gives the same splits, and the folder streams as pretraining data.
    soundtracks.prepare_soundtracks(tmp_path / "again", split_fractions=(0.5, 0.25, 0.25))
    assert [r["digest"] for r in read_csv(tmp_path / "again" / "test.csv")] == [r["digest"] for r in rows["test"]]
    source = open_tracks(out, "train")
    assert sorted(source.audio_of(row) for row in source.tracks) == sorted(row["audio"] for row in rows["train"])


def test_the_rendered_corpus_joins_with_its_train_split_only(tmp_path, fake_packages):
    corpus = tmp_path / "corpus"
    (corpus / "corpus.json").parent.mkdir()
    (corpus / "corpus.json").write_text("{}")
    train = [write_track(corpus / "train" / f"piece{i}.flac", 50 + i) for i in range(3)]
    write_track(corpus / "test" / "held-out.flac", 60)
    out = tmp_path / "mixed"
    soundtracks.prepare_soundtracks(out, split_fractions=(0.5, 0.25, 0.25), rendered_corpus=corpus)
    rendered = [row["audio"] for split in ("train", "validation", "test") for row in read_csv(out / f"{split}.csv")
                if row["package"] == "rendered"]
    assert sorted(rendered) == sorted(os.path.abspath(path) for path in train)
    assert all(row["package"] != "rendered" for row in read_csv(out / "test.csv"))
    with pytest.raises(ValueError, match="not a rendered corpus"):
        soundtracks.prepare_soundtracks(tmp_path / "x", rendered_corpus=tmp_path / "corpus" / "train")


def test_missing_packages_name_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(soundtracks, "installed_files", lambda package: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: nothing is installed
    with pytest.raises(RuntimeError, match="apt-get install -y --no-install-recommends warzone2100-music"):
        soundtracks.prepare_soundtracks(tmp_path, packages=["warzone2100-music"])
    with pytest.raises(ValueError, match="Unknown soundtrack packages"):
        soundtracks.prepare_soundtracks(tmp_path, packages=["not-a-package"])
