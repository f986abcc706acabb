"""Where the tracks of a pretraining run come from.

Every input a user has ends up as one `datasets.IterableDataset` of rows plus the name of the column that holds each
row's audio, so the pair stream has one code path for all of them:

- a single audio file (one track);
- a local folder of audio files (wav, flac, ogg, opus, mp3, aiff), listed recursively, one row per distinct content
  (links to one file and byte-identical copies count once, `distinct_files`); split
  folders (train/, validation/, test/, ...) are read the way `datasets`' `audiofolder` reads them. Linked folders are
  followed (each real folder is listed once, so a link loop ends); broken and looping links with an audio extension
  stay in the list and are skipped and counted by the pair stream like any unreadable track; file names that are not
  valid UTF-8 are read (they are stored in the table with their undecodable bytes as `\\xNN`);
- a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`, read with `datasets.load_from_disk`;
- a local folder that `datasets.load_dataset` understands (a dataset card with `configs`, parquet, arrow, json or csv
  files; the built-in corpus is one), streamed;
- parquet / arrow / json(l) / csv files or glob patterns, streamed;
- a Hub dataset id, streamed.

The audio column may hold paths (absolute, or relative to the local folder) or `Audio` cells. `Audio` columns are
cast to `Audio(decode=False)`: datasets 5 decodes audio through torchcodec, which has no CPU build here, so we read
the undecoded bytes or path and decode crops ourselves with soundfile (which seeks).
"""

import functools
import glob
import hashlib
import logging
import os
import re
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import display_path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")
DATA_FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "json", ".json": "json", ".csv": "csv"}
AUDIO_COLUMN_CANDIDATES = ("audio", "audio_path", "audio_file", "path", "file_name", "file")
# A plain audio folder is cut into this many shards at most, so that processes x DataLoader workers can take whole
# shards (see `vit1d.data.streaming`).
MAX_FOLDER_SHARDS = 1024

logger = logging.getLogger(__name__)


@dataclass
class TrackSource:
    """A stream of track rows and how to find each row's audio.

    Args:
        tracks: the rows (`datasets.IterableDataset`).
        audio_column: the column holding a path or an `Audio(decode=False)` cell (`{"bytes", "path"}`).
        root: local folder that relative paths are resolved against (None for remote data).
        description: a short human-readable name of the source, for logs and model cards.
        undecodable_names: for an audio folder, the real relative paths of files whose names are not valid UTF-8,
            keyed by the text stored for them in the table (`vit1d.audio.display_path`): Arrow tables hold UTF-8
            text only.
    """

    tracks: "datasets.IterableDataset"  # noqa: F821
    audio_column: str
    root: Path | None
    description: str
    undecodable_names: dict[str, str] = field(default_factory=dict)

    def audio_of(self, row: dict) -> str | bytes:
        """A path or the encoded bytes of a row's audio: what `vit1d.load_audio` takes."""
        value = row.get(self.audio_column)
        if isinstance(value, dict):
            if value.get("bytes"):
                return value["bytes"]
            value = value.get("path")
        if not isinstance(value, str) or not value:
            raise ValueError(f"column {self.audio_column!r} holds no path or audio bytes ({type(value).__name__})")
        path = Path(self.undecodable_names.get(value, value))
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        return str(path)

    def name_of(self, row: dict) -> str:
        """How warnings refer to a row."""
        value = row.get(self.audio_column)
        if isinstance(value, dict):
            value = value.get("path") or "<audio bytes>"
        return str(value)


def readable_tracks(source: TrackSource, skipped: Counter, max_tracks: int | None = None
                    ) -> Iterator[tuple[str, str | bytes, float]]:
    """`(name, audio, duration in seconds)` of the first `max_tracks` rows (all: None) whose audio opens, is not
    truncated or damaged (`vit1d.audio.truncation_of`) and is not empty; the others are counted in `skipped` by
    reason ("unreadable", "truncated", "empty"). For passes over a corpus that read a sample of each track."""
    from ..audio import audio_info, truncation_of

    for row in source.tracks.take(max_tracks) if max_tracks is not None else source.tracks:
        try:
            audio = source.audio_of(row)
            rate, frames, _ = audio_info(audio)
            damaged = truncation_of(audio) is not None
        except (ValueError, TypeError, OSError, RuntimeError):
            skipped["unreadable"] += 1
            continue
        if damaged or frames == 0 or rate <= 0:
            skipped["truncated" if damaged else "empty"] += 1
            continue
        yield source.name_of(row), audio, frames / rate


def _datasets():
    try:
        import datasets
    except ImportError as err:
        raise ImportError("Streaming tracks needs the `datasets` package: `pip install datasets`.") from err
    return datasets


def walk_files(folder: str | os.PathLike, warn: bool = True) -> list[Path]:
    """Every entry under `folder` that is not a folder, recursively, following linked folders, sorted (every process
    lists them in the same order). Each real folder is listed once, and never one that encloses `folder`: a link
    loop, a link up out of the tree (which would pull in the folders beside it, e.g. another split) and a second link
    to a folder listed already are not followed, with a warning that counts them. Broken and looping links are
    returned like files (they are not folders); the caller decides what they are."""
    folder = Path(folder)
    root = os.stat(folder)
    seen, not_followed, found = {(root.st_dev, root.st_ino)}, [], []
    # os.walk, not Path.rglob: rglob (Python 3.11) does not descend into linked folders and says nothing about it.
    for directory, subdirectories, files in os.walk(folder, followlinks=True):
        here = os.path.realpath(directory)
        keep = []
        for name in sorted(subdirectories):  # sorted: which of two links to one folder is listed must not vary
            target = os.path.realpath(os.path.join(directory, name))
            stat = os.stat(target)
            encloses = here == target or here.startswith(target.rstrip(os.sep) + os.sep)
            if encloses or (stat.st_dev, stat.st_ino) in seen:
                not_followed.append(os.path.join(directory, name))
            else:
                seen.add((stat.st_dev, stat.st_ino))
                keep.append(name)
        subdirectories[:] = keep
        found.extend(Path(directory) / name for name in files)
    if not_followed and warn:
        logger.warning(
            f"{len(not_followed)} linked folder(s) under {display_path(folder)} were not followed: they loop, lead up "
            f"out of it, or lead to a folder listed already (e.g. {display_path(not_followed[0])!r})."
        )
    return sorted(found)


def list_audio_files(folder: str | os.PathLike) -> list[str]:
    """Audio files under `folder` (recursively, through linked folders; see `walk_files`), sorted so that every
    process lists them in the same order. Links with an audio extension whose target is missing or loops are kept:
    reading them fails, so the pair stream skips and counts them like any unreadable file instead of dropping them
    unseen. Other broken links are left out with a warning that counts them."""
    files, broken = [], []
    for path in walk_files(folder):
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            files.append(str(path))
        elif path.is_symlink() and not path.exists():
            broken.append(path)
    if broken:
        logger.warning(f"{len(broken)} broken or looping link(s) under {display_path(folder)} point to nothing and "
                       f"were ignored, e.g. {display_path(broken[0])!r}.")
    return files


def _is_dataset_folder(folder: Path) -> bool:
    """Whether `load_dataset(folder)` should read it: it has a dataset card or data files, not just audio."""
    if (folder / "README.md").is_file():
        return True
    return any(path.suffix.lower() in DATA_FILE_BUILDERS for path in walk_files(folder, warn=False)
               if path.is_file())


@functools.cache
def split_words() -> dict[str, tuple[str, ...]]:
    """The split names and the words that stand for them in folder and file names, as `datasets` defines them
    (`{"validation": ("validation", "valid", "dev", "val"), ...}`), so that a layout means here what it means to
    `load_dataset`."""
    from datasets.data_files import SPLIT_KEYWORDS

    return {str(split): tuple(words) for split, words in SPLIT_KEYWORDS.items()}


def canonical_split(split: str) -> str:
    """`"validation"` for `"val"`, `"valid"` or `"dev"`, and so on; other names are kept."""
    return next((name for name, words in split_words().items() if split in words), split)


@functools.cache
def _non_words() -> re.Pattern:
    from datasets.data_files import NON_WORDS_CHARS

    return re.compile(f"[{NON_WORDS_CHARS}]+")


def _name_words(name: str) -> set[str]:
    """The words of a folder or file name, cut where `datasets` cuts them (at `-._`, spaces and digits)."""
    return set(_non_words().split(name)) - {""}


def _manifests(folder: Path, split: str) -> tuple[str, list[str]]:
    """The builder and files of `split` in a folder of manifests (csv, json(l), parquet, arrow) without a dataset
    card: files whose name or parent folder names the split (datasets' convention: `train.csv`, `test/x.parquet`).
    Loaded with the explicit builder, because `load_dataset(folder)` would read a folder that also holds audio files
    as an `audiofolder`, whose `Audio` encoding needs torchcodec."""
    found = [p for p in walk_files(folder, warn=False) if p.is_file() and p.suffix.lower() in DATA_FILE_BUILDERS]
    names = split_words().get(canonical_split(split), (split,))

    def names_split(path: Path) -> bool:
        parts = [path.stem.lower(), *(part.lower() for part in path.relative_to(folder).parts[:-1])]
        return any(token in names for part in parts for token in part.replace("-", "_").split("_"))

    files = [p for p in found if names_split(p)]
    if not files:
        raise ValueError(f"No {split!r} manifest in {folder}: name the files after their split (train.csv, "
                         f"validation.csv, test.csv), or add a dataset card (README.md with `configs`).")
    builders = {DATA_FILE_BUILDERS[p.suffix.lower()] for p in files}
    if len(builders) > 1:
        raise ValueError(f"The {split!r} manifests in {folder} mix formats {sorted(builders)}: use one format.")
    return builders.pop(), [str(p) for p in files]


def _pick_audio_column(features, column_names, requested: str | None) -> str:
    names = list(column_names or [])
    if requested is not None:
        if names and requested not in names:
            raise ValueError(f"No column {requested!r} in the dataset; its columns are {names}. Pass --audio_column.")
        return requested
    if features is not None:
        for name, feature in features.items():
            if type(feature).__name__ == "Audio":
                return name
    for name in AUDIO_COLUMN_CANDIDATES:
        if name in names:
            return name
    raise ValueError(
        f"Cannot tell which column holds the audio among {names}: pass --audio_column (a column of paths or of "
        "`Audio` cells)."
    )


def _undecoded(dataset, audio_column: str):
    features = dataset.features
    if features is not None and type(features.get(audio_column)).__name__ == "Audio":
        dataset = dataset.cast_column(audio_column, _datasets().Audio(decode=False))
    return dataset


def _private_cache_dir() -> str:
    """A fresh `cache_dir` for streaming a local dataset. datasets 5 keys cached dataset infos by the folder's *name*
    and config, so streaming `x/corpus` could read the features cached by an earlier `load_dataset("y/corpus")` and
    fail with a CastError when their columns differ. Streaming needs no cache, so an empty one avoids it."""
    return tempfile.mkdtemp(prefix="vit1d-datasets-")


def _split_folders(relative: Path) -> dict[str, str]:
    """The splits named by the folders of a file's path (relative to the data root): {split: folder name}."""
    return {split: part for part in relative.parts[:-1] for split, words in split_words().items()
            if _name_words(part) & set(words)}


def audio_files_of_split(folder: str | os.PathLike, split: str = "train") -> list[str]:
    """The audio files of `split` under `folder`.

    Splits follow `datasets`' `audiofolder` rule for folders: a folder at any depth whose name holds a split word
    (`train/`, `val/`, `dev/`, `test/`, `eval-2/`, `data/test/`, ...; case-sensitive, as in `datasets`) holds that
    split, and a folder with no split folder is all "train". Unlike `datasets`, split words in *file* names do not
    split a folder: track titles hold them ("night train.mp3"), and `datasets` would then make that one file the
    whole train split. File names that look like a held-out split are warned about instead.
    """
    folder = Path(folder)
    files = list_audio_files(folder)
    if not files:
        raise ValueError(
            f"{folder} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}) and no dataset files: point --data at a "
            "folder of audio, a dataset folder, parquet/arrow files or a Hub dataset id."
        )
    wanted = canonical_split(split)
    splits = {path: _split_folders(Path(path).relative_to(folder)) for path in files}
    if not any(splits.values()):
        if wanted != "train":
            raise ValueError(
                f"{folder} has no split folders (train/, validation/, test/), so all of its {len(files)} audio "
                f"files are the 'train' split and there is no {split!r} split: put the {wanted} audio in a "
                f"{wanted}/ subfolder (and the rest in train/), or pass --split train."
            )
        held_out = {word for name, words in split_words().items() if name != "train" for word in words}
        named = [path for path in files if _name_words(Path(path).stem) & held_out]
        if named:
            logger.warning(
                f"{len(named)} of the {len(files)} files in {folder} have a split word in their name (e.g. "
                f"{os.path.relpath(named[0], folder)!r}) but lie in no split folder, so they are read as 'train'. "
                "If they are held-out audio, move them into a validation/ or test/ subfolder."
            )
        return files
    folders = sorted({name for found in splits.values() for name in found.values()})
    outside = [path for path, found in splits.items() if not found]
    if outside:
        raise ValueError(
            f"{folder} has split folders ({', '.join(folders)}) and also {len(outside)} audio files outside them "
            f"(e.g. {os.path.relpath(outside[0], folder)!r}), which would belong to no split: move them into a "
            "split folder, rename folders that are not splits, or point --data at one split's folder."
        )
    several = next((path for path, found in splits.items() if len(found) > 1), None)
    if several is not None:
        raise ValueError(
            f"{os.path.relpath(several, folder)!r} in {folder} lies in folders of several splits "
            f"({sorted(splits[several])}): a track must belong to one split; rename or move its folders."
        )
    chosen = [path for path, found in splits.items() if wanted in found]
    if not chosen:
        available = sorted({name for found in splits.values() for name in found})
        raise ValueError(
            f"No {split!r} split in {folder}: its split folders ({', '.join(folders)}) hold the splits "
            f"{available}. Pass --split with one of those."
        )
    return chosen


def _table_of_files(files: list[str], folder: Path) -> tuple["datasets.IterableDataset", dict[str, str]]:  # noqa: F821
    """An `audio` column of paths relative to `folder`, and the real paths of names that are not valid UTF-8 keyed
    by the text the table holds for them (see `TrackSource.undecodable_names`)."""
    relative = [os.path.relpath(path, folder) for path in files]
    shown = [display_path(path) for path in relative]
    undecodable = {text: path for text, path in zip(shown, relative) if text != path}
    clashes = [text for text in undecodable if text in set(relative)]
    if clashes:  # a real file named like the escaped text of another: the table could not tell them apart
        raise ValueError(f"{display_path(folder)} holds both a file named {clashes[0]!r} and one whose name is not "
                         "valid UTF-8 and reads the same with its bytes escaped: rename one of them.")
    if undecodable:
        logger.warning(f"{len(undecodable)} file name(s) under {display_path(folder)} are not valid UTF-8 (e.g. "
                       f"{next(iter(undecodable))!r}); they are read, and named with their bytes escaped.")
    table = _datasets().Dataset.from_dict({"audio": shown})
    return table.to_iterable_dataset(num_shards=min(len(files), MAX_FOLDER_SHARDS)), undecodable


def _folder_of_audio(folder: Path, split: str) -> tuple["datasets.IterableDataset", dict[str, str]]:  # noqa: F821
    return _table_of_files(distinct_files(audio_files_of_split(folder, split)), folder)


def content_digest(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """BLAKE2b digest (hex) of a file's bytes, read in chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        while chunk := file.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def distinct_files(files: list[str]) -> list[str]:
    """`files` with each audio content once: links to one file and byte-identical copies (game soundtracks ship
    many: drascula-music is mostly symlinks) would give one track several times the pairs of the others and make
    false negatives of its copies. Of each group the first file that is not a link is kept (in `files`' order), and
    the duplicates are counted in a warning. Only files of equal size are hashed. Files that cannot be read (broken
    links) are kept: the pair stream skips and counts them."""
    by_size: dict[int, list[str]] = {}
    for path in files:
        try:
            by_size.setdefault(os.stat(path).st_size, []).append(path)
        except OSError:
            continue
    duplicates = set()
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        first_of = {}
        for path in sorted(same_size, key=os.path.islink):  # a real file is kept rather than a link to it
            try:
                key = content_digest(path)
            except OSError:
                continue
            if key in first_of:
                duplicates.add(path)
            else:
                first_of[key] = path
    if duplicates:
        example = next(path for path in files if path in duplicates)
        logger.warning(f"{len(duplicates)} of {len(files)} audio files are links to, or byte-identical copies of, "
                       f"another file and are read once (e.g. {display_path(example)!r}).")
    return [path for path in files if path not in duplicates]


def _is_saved_dataset(folder: Path) -> bool:
    from datasets import config

    # The files `load_from_disk` itself tells a saved Dataset and a saved DatasetDict by.
    return (folder / config.DATASETDICT_JSON_FILENAME).is_file() or all(
        (folder / name).is_file() for name in (config.DATASET_STATE_JSON_FILENAME, config.DATASET_INFO_FILENAME))


def _saved_dataset(folder: Path, split: str) -> tuple["datasets.IterableDataset", str]:  # noqa: F821
    """The rows of `split` in a `save_to_disk` folder, streamed from its memory-mapped arrow files, and the name of
    the split read. A saved `Dataset` holds one split: the one it was made from, or "train" when it has none."""
    datasets = _datasets()
    saved = datasets.load_from_disk(str(folder))
    if isinstance(saved, datasets.DatasetDict):
        names = list(saved)
        matches = [name for name in names if name == split] or [
            name for name in names if canonical_split(name) == canonical_split(split)]
        if len(matches) != 1:
            raise ValueError(f"No {split!r} split in the saved DatasetDict {folder}: its splits are {names}. Pass "
                             "--split with one of those.")
        name, table = matches[0], saved[matches[0]]
    else:
        name, table = str(saved.split or "train"), saved
        if canonical_split(name) != canonical_split(split):
            raise ValueError(f"{folder} is one saved Dataset, split {name!r}, so it has no {split!r} split: pass "
                             f"--split {name}, or save a DatasetDict with a {split!r} split.")
    return table.to_iterable_dataset(num_shards=max(1, min(len(table), MAX_FOLDER_SHARDS))), name


def open_tracks(
    data: str | os.PathLike,
    split: str = "train",
    audio_column: str | None = None,
    dataset_config: str | None = None,
    revision: str | None = None,
) -> TrackSource:
    """Open any supported input as a stream of track rows (see the module docstring)."""
    datasets = _datasets()
    data = os.fspath(data)
    path = Path(data)
    root, cache_dir, undecodable = None, None, {}
    if path.suffix.lower() in AUDIO_EXTENSIONS and not path.is_dir():
        if not (path.exists() or path.is_symlink()):
            raise FileNotFoundError(f"No audio file at {display_path(data)!r}.")
        # One track: the file is the data, whatever split is asked for (a folder without split folders would be
        # all "train"; naming one file is explicit enough).
        root = path.absolute().parent
        tracks, undecodable = _table_of_files([str(path.absolute())], root)
        audio_column = audio_column or "audio"
        description = f"audio file {display_path(data)}"
    elif path.is_file() and path.suffix.lower() not in DATA_FILE_BUILDERS:
        raise ValueError(
            f"--data {display_path(data)!r} is a file that is neither audio ({', '.join(AUDIO_EXTENSIONS)}) nor a "
            f"manifest ({', '.join(DATA_FILE_BUILDERS)}): point it at an audio file, a folder of audio, a dataset "
            "folder, manifest files or a Hub dataset id."
        )
    elif path.is_dir():
        root = path.resolve()
        if _is_saved_dataset(path):
            tracks, name = _saved_dataset(root, split)
            description = f"saved dataset {data} ({name})"
        elif (path / "README.md").is_file():
            cache_dir = _private_cache_dir()
            tracks = datasets.load_dataset(str(root), dataset_config, split=split, streaming=True, cache_dir=cache_dir)
            description = f"dataset folder {data} ({split})"
        elif _is_dataset_folder(path):
            builder, files = _manifests(root, split)
            cache_dir = _private_cache_dir()
            tracks = datasets.load_dataset(builder, data_files=files, split="train", streaming=True,
                                           cache_dir=cache_dir)
            description = f"{builder} manifests in {data} ({split})"
        else:
            (tracks, undecodable), audio_column = _folder_of_audio(root, split), audio_column or "audio"
            description = f"audio folder {data} ({canonical_split(split)})"
    elif Path(data).suffix.lower() in DATA_FILE_BUILDERS:
        files = sorted(glob.glob(data)) or [data]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(f"No data file at {missing[0]!r}.")
        root = Path(files[0]).resolve().parent
        builder = DATA_FILE_BUILDERS[Path(data).suffix.lower()]
        cache_dir = _private_cache_dir()
        tracks = datasets.load_dataset(builder, data_files=files, split="train", streaming=True, cache_dir=cache_dir)
        description = f"{builder} files {data}"
    else:
        tracks = datasets.load_dataset(data, dataset_config, split=split, streaming=True, revision=revision)
        description = f"Hub dataset {data} ({split})"
    # Streamed csv / json manifests know their columns only once read: peek at the first row.
    column_names = tracks.column_names or list(next(iter(tracks), {}))
    audio_column = _pick_audio_column(tracks.features, column_names, audio_column)
    source = TrackSource(_undecoded(tracks, audio_column), audio_column, root, description, undecodable)
    if cache_dir is not None:
        weakref.finalize(source, shutil.rmtree, cache_dir, True)
    return source
