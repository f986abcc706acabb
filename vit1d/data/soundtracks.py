"""A real-music pretraining corpus from Debian's game-soundtrack packages, as a folder of split manifests.

Four packages hold about 8 hours of produced music under free licences (see `../shared/notes/offline-data.md`):

| package | tracks | style | licence (from /usr/share/doc/PACKAGE/copyright) |
|---|---|---|---|
| warzone2100-music | 30 | ambient, electronic, orchestral (Ogg Opus) | GPL-2+ |
| nexuiz-music | 18 | techno, dance (Ogg Vorbis inside music.pk3, a zip) | GPL-2+ |
| drascula-music | 31 | jazz, pop, folk (Ogg Vorbis, many symlinks) | Drascula-License (freeware, redistributable) |
| wesnoth-1.16-music | 41 | orchestral (Ogg Vorbis) | GPL-2+ |

`prepare_soundtracks(output_dir)` installs the packages with apt when run as root (else it says exactly what to
install), finds their tracks with `dpkg -L`, extracts the ones inside archives into `output_dir/extracted/`, keeps
each audio content once (links and byte-identical copies: `vit1d.data.sources.distinct_files`), reads each track's
duration, splits by track (stratified by package, the corpus's `split_by_work`) and writes `train.csv`,
`validation.csv`, `test.csv` and `manifest.json`: one row per track with `audio` (path), `duration`, `package`,
`licence`, `digest`. `run_pretraining.py --data OUTPUT_DIR` reads the train manifest. With `rendered_corpus`, the
train split of a rendered corpus folder joins the train manifest (its validation and test works never do, so the
benchmark's test works stay out of pretraining). The audio is never copied except out of archives; never commit it.
"""

import csv
import json
import logging
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import audio_info, truncation_of
from .sources import AUDIO_EXTENSIONS, content_digest, distinct_files, list_audio_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Soundtrack:
    licence: str
    style: str
    archive_members: str | None = None  # for music inside a zip archive (a Quake .pk3): the members' folder


SOUNDTRACKS = {
    "warzone2100-music": Soundtrack("GPL-2+", "ambient, electronic, orchestral"),
    "nexuiz-music": Soundtrack("GPL-2+", "techno, dance", archive_members="sound/cdtracks/"),
    "drascula-music": Soundtrack("Drascula-License (freeware, redistributable)", "jazz, pop, folk"),
    "wesnoth-1.16-music": Soundtrack("GPL-2+", "orchestral"),
}
MANIFEST_COLUMNS = ("audio", "duration", "package", "licence", "digest")


def installed_files(package: str) -> list[str] | None:
    """The files a Debian package installed (`dpkg -L`), or None when it is not installed or there is no dpkg."""
    if shutil.which("dpkg") is None:
        return None
    done = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return [line for line in done.stdout.splitlines() if os.path.isfile(line)]


def install_command(packages) -> str:
    return f"apt-get install -y --no-install-recommends {' '.join(packages)}"


def ensure_installed(packages: list[str], install: bool = True) -> None:
    """Install missing packages with apt when allowed and run as root; otherwise raise an error naming the command."""
    missing = [package for package in packages if installed_files(package) is None]
    if not missing:
        return
    can_install = install and shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_install:
        raise RuntimeError(
            f"The soundtrack packages {missing} are not installed. On Debian or Ubuntu run, as root: "
            f"`{install_command(missing)}` (or `sudo make real-music`), then run this again."
        )
    logger.info(f"Installing {missing} with apt-get.")
    done = subprocess.run(install_command(missing).split(), capture_output=True, text=True)
    if done.returncode != 0 or any(installed_files(package) is None for package in missing):
        raise RuntimeError(f"`{install_command(missing)}` failed:\n{done.stderr[-2000:]}\nInstall them by hand and "
                           "run this again.")


def package_tracks(package: str, extracted_dir: Path) -> list[str]:
    """Audio files of an installed package; members of its archives are extracted into `extracted_dir/package/`."""
    soundtrack = SOUNDTRACKS[package]
    files = installed_files(package) or []
    tracks = sorted(path for path in files if Path(path).suffix.lower() in AUDIO_EXTENSIONS)
    if soundtrack.archive_members is not None:
        for archive in sorted(path for path in files if zipfile.is_zipfile(path)):
            with zipfile.ZipFile(archive) as bundle:
                for member in sorted(bundle.namelist()):
                    if member.startswith(soundtrack.archive_members) and (
                            Path(member).suffix.lower() in AUDIO_EXTENSIONS):
                        target = extracted_dir / package / Path(member).name
                        if not target.is_file() or target.stat().st_size != bundle.getinfo(member).file_size:
                            target.parent.mkdir(parents=True, exist_ok=True)
                            with bundle.open(member) as source, open(target, "wb") as sink:
                                shutil.copyfileobj(source, sink)
                        tracks.append(str(target))
    return tracks


def track_rows(files: list[str], package: str, licence: str) -> tuple[list[dict], int]:
    """Manifest rows of the distinct, readable files, and how many were unreadable or damaged (warned)."""
    rows, bad = [], 0
    for path in distinct_files(files):
        try:
            rate, frames, _ = audio_info(path)
            damage = truncation_of(path)
        except (ValueError, OSError, RuntimeError) as err:
            damage = str(err)
        if damage is not None or frames == 0:
            bad += 1
            logger.warning(f"Leaving out {path} ({damage or 'no samples'}).")
            continue
        rows.append({"audio": os.path.abspath(path), "duration": round(frames / rate, 3), "package": package,
                     "licence": licence, "digest": content_digest(path)})
    return rows, bad


def prepare_soundtracks(output_dir: str | os.PathLike, packages: list[str] | None = None, install: bool = True,
                        split_fractions=(0.9, 0.05, 0.05), seed: int = 0,
                        rendered_corpus: str | os.PathLike | None = None) -> dict:
    """Write the split manifests of the soundtrack corpus into `output_dir` (see the module docstring) and return
    the summary also written to `manifest.json`."""
    from ..corpus.render import check_split_fractions, split_by_work

    packages = list(packages or SOUNDTRACKS)
    unknown = sorted(set(packages) - set(SOUNDTRACKS))
    if unknown:
        raise ValueError(f"Unknown soundtrack packages {unknown}; known: {sorted(SOUNDTRACKS)}.")
    split_fractions = check_split_fractions(split_fractions)
    ensure_installed(packages, install)
    output_dir = Path(output_dir)
    rows, skipped = [], {}
    for package in packages:
        found, bad = track_rows(package_tracks(package, output_dir / "extracted"), package,
                                SOUNDTRACKS[package].licence)
        if not found:
            raise RuntimeError(f"{package} is installed but none of its files is readable audio.")
        rows += found
        skipped[package] = bad
    # A file shipped by two packages is one track.
    seen, unique = set(), []
    for row in rows:
        if row["digest"] not in seen:
            seen.add(row["digest"])
            unique.append(row)
    splits = split_by_work([row["digest"] for row in unique], seed, split_fractions,
                           groups=[row["package"] for row in unique])
    by_split = {split: [row for row, s in zip(unique, splits) if s == split]
                for split in ("train", "validation", "test")}
    if rendered_corpus is not None:
        rendered = rendered_rows(rendered_corpus)
        by_split["train"] += rendered
    for split, split_rows in by_split.items():
        write_manifest(output_dir / f"{split}.csv", split_rows)
    summary = {
        "packages": {package: {"tracks": sum(r["package"] == package for r in unique),
                               "hours": round(sum(r["duration"] for r in unique if r["package"] == package) / 3600, 2),
                               "licence": SOUNDTRACKS[package].licence, "style": SOUNDTRACKS[package].style,
                               "left_out_damaged": skipped[package]} for package in packages},
        "splits": {split: {"tracks": len(split_rows), "hours": round(sum(r["duration"] for r in split_rows) / 3600, 2)}
                   for split, split_rows in by_split.items()},
        "split_fractions": list(split_fractions),
        "seed": seed,
        "rendered_corpus": None if rendered_corpus is None else str(rendered_corpus),
    }
    (output_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def rendered_rows(corpus_dir: str | os.PathLike) -> list[dict]:
    """Rows of the train split of a rendered corpus folder (`vit1d.corpus.render`): only its train works."""
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / "corpus.json").is_file() or not (corpus_dir / "train").is_dir():
        raise ValueError(f"{corpus_dir} is not a rendered corpus (no corpus.json and train/): render one with "
                         "`python -m vit1d.corpus.render --out DIR` or `make demo`.")
    licence = "rendered by vit1d (scores: generated, or music21's corpus; SoundFonts: see corpus.json)"
    return track_rows(list_audio_files(corpus_dir / "train"), "rendered", licence)[0]


def write_manifest(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class SoundtrackArguments:
    output_dir: str = field(default="data/real_music", metadata={"help": "Where the manifests are written."})
    packages: list[str] = field(default_factory=lambda: list(SOUNDTRACKS),
                                metadata={"help": f"Debian packages to use (of {', '.join(SOUNDTRACKS)})."})
    install: bool = field(default=True, metadata={"help": "Install missing packages with apt-get (as root)."})
    split_fractions: str = field(default="0.9,0.05,0.05",
                                 metadata={"help": "Train, validation and test shares, by track and per package."})
    seed: int = field(default=0)
    rendered_corpus: str | None = field(
        default=None, metadata={"help": "A rendered corpus folder whose train split joins the train manifest."})


def main(argv=None):
    from transformers import HfArgumentParser

    from ..corpus.render import parse_split_fractions

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(SoundtrackArguments).parse_args_into_dataclasses(args=argv)
    summary = prepare_soundtracks(args.output_dir, args.packages, args.install,
                                  parse_split_fractions(args.split_fractions), args.seed, args.rendered_corpus)
    print(json.dumps(summary["splits"], indent=2))
    print(f"Manifests in {args.output_dir}: pretrain with `run_pretraining.py --data {args.output_dir}`.")


if __name__ == "__main__":
    main()


__all__ = ["SOUNDTRACKS", "Soundtrack", "ensure_installed", "package_tracks", "prepare_soundtracks", "track_rows"]
