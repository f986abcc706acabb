"""The built-in benchmark corpus: labelled music rendered from scores with a General MIDI SoundFont.

`scores` (generated grooves with exact labels, and chords estimated from notes), `chorales` (Bach chorales from the
music21 corpus), `tunes` (fiddle tunes from the music21 corpus over a generated accompaniment) and `render` (the
SoundFont synthesiser and the writer of a dataset folder: `python -m vit1d.corpus.render`). The chord vocabulary they
label with is `vit1d.chords`.

Rendering needs the optional corpus extra: `pip install "vit1d[corpus]"` (music21 for the scores, pretty_midi for
its General MIDI SoundFont) and `pip install --no-deps tinysoundfont` (the synthesiser; without its pyaudio
dependency, which is only for live playback and does not build everywhere). `pip install vit1d` alone loads,
embeds, probes and pretrains on your own audio.
"""

import importlib

CORPUS_INSTALL = 'pip install "vit1d[corpus]" && pip install --no-deps tinysoundfont'


def require(module: str, purpose: str):
    """Import an optional dependency of the corpus, or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs `{module}`, which comes with the corpus extra: {CORPUS_INSTALL} (tinysoundfont without "
            "its pyaudio dependency, which is only for live playback)."
        ) from err
