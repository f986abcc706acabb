"""The explorer: a Gradio page that shows what a ViT-1D does with a track, without writing plotting code.

    python app.py                                  # http://127.0.0.1:7860, the released checkpoint
    python app.py --model path/or/hub-id --port 7861

It loads a checkpoint (default: the released one) and an audio file (an upload, or one of a few pieces of the
built-in corpus rendered on first use) and shows: the log-mel input with time in seconds; the attention map of one
4 s window for a chosen layer and head; the onset-strength curve read from attention (that layer and head) over the
whole track with its picked onsets and, for rendered pieces, the reference onsets; the self-similarity matrices of
layers 3, 6, 9 and 12 with beats and chord changes marked when known; the class-token similarity between the track's
4 s windows. Long files are windowed as `embed_long_audio` does (the first `MAX_SECONDS` are analysed); a file that
cannot be read gets a message in the page. Everything runs offline. The app file `app.py` at the top of the
repository also runs as a Hugging Face Space.

Needs `pip install "vit1d[explorer]"` (gradio, matplotlib); rendering the examples needs the corpus extra.
"""

import argparse
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analysis.attention import MODES, attention_maps, pick_onsets, track_onset_strength
from .analysis.ssm import chord_changes, pooled_self_similarity
from .audio import load_audio
from .embedding import embed_long_audio
from .loading import load_encoder

logger = logging.getLogger(__name__)

EXPLORER_INSTALL = 'pip install "vit1d[explorer]"'
RELEASED = Path(__file__).resolve().parents[1] / "pretrained" / "vit1d-tiny-gamemusic-1000"
EXAMPLES_DIR = Path(os.environ.get("VIT1D_EXPLORER_EXAMPLES", "~/.cache/vit1d/explorer-examples")).expanduser()
MAX_SECONDS = 600.0
WINDOW_SECONDS = 4.0
SSM_LAYERS = (3, 6, 9, 12)
FIGURES = ("log_mel", "attention", "onsets", "ssm", "windows")


@dataclass
class Exploration:
    """What the page shows of one track, computed once; the layer and head selectors redraw from it."""

    name: str
    seconds: float
    log_mel: np.ndarray  # (frames, mel) in dB
    frame_times: np.ndarray  # (frames,)
    window_start: float  # start (s) of the window whose attention maps are kept
    attentions: np.ndarray  # (layers, heads, 1 + T, 1 + T) of that window
    attention_times: np.ndarray  # (T,) from the start of the track
    strengths: dict  # {mode: (layers, heads, tokens)} over the whole track
    token_times: np.ndarray  # (tokens,)
    ssms: dict  # {layer: (N, N)} pictures of bounded size
    ssm_times: np.ndarray  # (N,)
    window_similarity: np.ndarray  # (windows, windows)
    window_times: np.ndarray  # (windows, 2)
    labels: dict = field(default_factory=dict)  # onsets, beats, chord_changes (seconds) when known
    notes: list = field(default_factory=list)


_MODELS = {}


def cached_model(name_or_path: str):
    """`load_encoder` once per checkpoint per process (the page's sessions share it)."""
    if name_or_path not in _MODELS:
        _MODELS[name_or_path] = load_encoder(name_or_path)[:2]
    return _MODELS[name_or_path]


def explore_track(model, feature_extractor, waveform: np.ndarray, name: str = "track", labels: dict | None = None,
                  window_start: float = 0.0, progress=None) -> Exploration:
    """Everything the page shows for a 16 kHz mono `waveform` (see `Exploration`). `progress(fraction, desc)` is
    called between the stages (a `gr.Progress`); with it, the two windowed stages also show tqdm bars over their
    windows, which `gr.Progress(track_tqdm=True)` displays."""
    report = progress or (lambda *args, **kwargs: None)
    rate = feature_extractor.sampling_rate
    notes = []
    if len(waveform) > MAX_SECONDS * rate:
        notes.append(f"Only the first {MAX_SECONDS:g} s of {len(waveform) / rate:.0f} s are analysed.")
        waveform = waveform[: int(MAX_SECONDS * rate)]
    config = model.base_model.config
    report(0.05, desc="log-mel")
    features = feature_extractor(waveform, sampling_rate=rate, return_tensors="np")
    log_mel = features["input_values"][0]
    frame_times = feature_extractor.frame_times(len(log_mel))
    report(0.15, desc="attention over the whole track, in 4 s windows")
    layers = tuple(layer for layer in SSM_LAYERS if layer <= config.num_hidden_layers) or (config.num_hidden_layers,)
    strengths = track_onset_strength(model, feature_extractor, waveform, rate, token_layers=layers,
                                     progress_bar=progress is not None)
    report(0.6, desc="self-similarity")
    ssms, ssm_times = {}, strengths.times
    for layer, tokens in strengths.tokens.items():
        ssms[layer], ssm_times = pooled_self_similarity(tokens, strengths.times, max_size=400)
    report(0.75, desc="class tokens of every window")
    embedding = embed_long_audio(model, feature_extractor, waveform, sampling_rate=rate,
                                 window_seconds=WINDOW_SECONDS, progress_bar=progress is not None)
    unit = embedding.class_tokens / embedding.class_tokens.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    similarity = (unit @ unit.T).numpy()
    report(0.9, desc="attention maps of one window")
    start, attentions, attention_times = window_attention(model, feature_extractor, waveform, window_start)
    return Exploration(name=name, seconds=len(waveform) / rate, log_mel=log_mel, frame_times=frame_times,
                       window_start=start, attentions=attentions, attention_times=attention_times,
                       strengths=strengths.strengths, token_times=strengths.times, ssms=ssms, ssm_times=ssm_times,
                       window_similarity=similarity, window_times=embedding.window_times, labels=labels or {},
                       notes=notes)


def window_attention(model, feature_extractor, waveform: np.ndarray, start_seconds: float):
    """The attention maps of the 4 s window starting at `start_seconds` (moved back to fit in the track):
    `(start, (layers, heads, 1 + T, 1 + T), token times from the track's start)`."""
    rate = feature_extractor.sampling_rate
    size = int(WINDOW_SECONDS * rate)
    first = int(np.clip(start_seconds * rate, 0, max(len(waveform) - size, 0)))
    window = waveform[first : first + size]
    if len(window) < feature_extractor.n_fft // 2 + 1:
        window = np.pad(window, (0, feature_extractor.n_fft // 2 + 1 - len(window)))
    attentions, times = attention_maps(model, feature_extractor, window, rate)
    return first / rate, attentions, times + first / rate


def draw(exploration: Exploration, folder: str | Path, layer: int, head: int, mode: str = "class_row") -> dict:
    """PNG paths of the five figures (`FIGURES`); `layer` is a block number (1-based, as `plot_attention_maps`
    numbers them), `head` an index (0-based)."""
    from .analysis import figures

    folder = Path(folder)
    labels = exploration.labels
    curve = exploration.strengths[mode][layer - 1, head]
    picked = pick_onsets(curve, exploration.token_times)
    reference = labels.get("onsets") if labels.get("onsets") is not None else []
    return {
        "log_mel": figures.plot_log_mel(exploration.log_mel, exploration.frame_times, folder / "log_mel.png",
                                        title=f"Log-mel spectrogram of {exploration.name}"),
        "attention": figures.plot_attention_maps(
            exploration.attentions, exploration.attention_times, folder / f"attention-{layer}-{head}.png",
            layers=[layer], heads=[head],
            title=f"Attention, layer {layer}, head {head}, window at {exploration.window_start:.1f} s"),
        "onsets": figures.plot_onset_curves(
            {f"layer {layer}, head {head} ({mode.replace('_', ' ')})": curve}, exploration.token_times, reference,
            folder / f"onsets-{layer}-{head}-{mode}.png", estimated_onsets=picked, max_seconds=None,
            title="Onset strength read from attention" + ("" if len(reference) else " (no reference onsets known)")),
        "ssm": figures.plot_ssm_grid(exploration.ssms, exploration.ssm_times, folder / "ssm.png",
                                     beats=labels.get("beats"), chord_changes=labels.get("chord_changes")),
        "windows": figures.plot_window_similarity(exploration.window_similarity, exploration.window_times,
                                                  folder / "windows.png"),
    }


# -- examples: pieces of the built-in corpus, with their labels ---------------------------------------------------


def rendered_examples(folder: str | Path = EXAMPLES_DIR, pieces: int = 6, seconds: float = 20.0) -> dict[str, dict]:
    """`{name: {"path", "labels"}}` for a few pieces of the built-in corpus, rendered into `folder` on first use
    (about 10 s); empty, with a warning, when the corpus extra is not installed."""
    try:
        from .corpus.render import ensure_corpus

        root = Path(ensure_corpus(folder, pieces=pieces, seconds=seconds))
    except ImportError as error:
        logger.warning(f"No rendered examples ({error}); upload a file instead.")
        return {}
    examples = {}
    for metadata in sorted(root.glob("*/metadata.jsonl")):
        for line in metadata.read_text().splitlines():
            row = json.loads(line)
            labels = {"onsets": row.get("onsets"), "beats": row.get("beats")}
            if row.get("chord_intervals") is not None:
                labels["chord_changes"] = chord_changes(row["chord_intervals"], row.get("chord_labels"))
            examples[f"{row['piece_id']} ({row['source']}, rendered)"] = {"path": str(root / row["audio_path"]),
                                                                           "labels": labels}
    return examples


# -- the page ------------------------------------------------------------------------------------------------------


def require_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no usage reports
    try:
        import gradio
    except ImportError as error:
        raise ImportError(f"The explorer needs gradio and matplotlib: `{EXPLORER_INSTALL}` ({error}).") from error
    return gradio


def read_track(path: str, rate: int) -> np.ndarray:
    """The file as 16 kHz mono float32, or a ValueError whose message the page shows."""
    try:
        waveform = load_audio(path, sampling_rate=rate)
    except Exception as error:  # any decoder failure becomes a message in the page, never a traceback
        raise ValueError(f"Could not read {Path(path).name}: {error}") from error
    if len(waveform) < rate * 0.1:
        raise ValueError(f"{Path(path).name} holds {len(waveform) / rate:.3f} s of audio: give at least 0.1 s.")
    return waveform


def build_app(model_name_or_path: str | os.PathLike | None = None, examples: dict | None = None):
    """The Gradio page (`gr.Blocks`); `examples` defaults to `rendered_examples()`."""
    gr = require_gradio()
    default_model = os.fspath(model_name_or_path or RELEASED)
    if Path(default_model).is_absolute() and Path(default_model).is_relative_to(Path.cwd()):
        default_model = os.path.relpath(default_model)  # what a user would type
    examples = rendered_examples() if examples is None else examples
    output_root = Path(tempfile.mkdtemp(prefix="vit1d-explorer-"))

    # track_tqdm: the windowed stages' tqdm bars (window by window) show in the page.
    def analyse(upload, example, model_path, layer, head, mode, window_start, progress=gr.Progress(track_tqdm=True)):
        try:
            model, extractor = cached_model(model_path.strip() or default_model)
        except Exception as error:
            return _failure(f"Could not load the checkpoint {model_path!r}: {type(error).__name__}: {error}")
        if upload:
            path, labels, name = upload, {}, Path(upload).name
        elif example:
            path, labels, name = examples[example]["path"], examples[example]["labels"], example
        else:
            return _failure("Upload an audio file or choose a rendered example.")
        try:
            waveform = read_track(path, extractor.sampling_rate)
            exploration = explore_track(model, extractor, waveform, name, labels, float(window_start), progress)
            paths = draw(exploration, tempfile.mkdtemp(dir=output_root), int(layer), int(head), mode)
        except ValueError as error:
            return _failure(str(error))
        status = (f"**{name}**: {exploration.seconds:.1f} s, {len(exploration.token_times)} tokens, "
                  f"{len(exploration.window_times)} windows of {WINDOW_SECONDS:g} s. " + " ".join(exploration.notes))
        return (status, *[paths[figure] for figure in FIGURES], exploration, waveform)

    def redraw(exploration, layer, head, mode):
        if exploration is None:
            return gr.update(), gr.update()
        paths = draw(exploration, tempfile.mkdtemp(dir=output_root), int(layer), int(head), mode)
        return paths["attention"], paths["onsets"]

    def move_window(exploration, waveform, model_path, layer, head, mode, window_start):
        if exploration is None:
            return gr.update(), gr.update(), exploration
        model, extractor = cached_model(model_path.strip() or default_model)
        start, attentions, times = window_attention(model, extractor, waveform, float(window_start))
        exploration.window_start, exploration.attentions, exploration.attention_times = start, attentions, times
        attention, onsets = redraw(exploration, layer, head, mode)
        return attention, onsets, exploration

    model, _ = cached_model(default_model)
    config = model.base_model.config
    layer_choices = list(range(1, config.num_hidden_layers + 1))
    head_choices = list(range(config.num_attention_heads))
    with gr.Blocks(title="ViT-1D explorer", analytics_enabled=False) as app:
        gr.Markdown("# ViT-1D explorer\nWhat a ViT-1D music encoder (Kong et al., ISMIR 2025) does with a track: "
                    "its input, attention, onsets read from attention, self-similarity per layer and the "
                    "class-token similarity between windows.")
        with gr.Row():
            upload = gr.File(label="Audio file (WAV, FLAC, OGG, MP3)", type="filepath", elem_id="upload")
            with gr.Column():
                example = gr.Dropdown(choices=list(examples), value=None, label="or a rendered example "
                                      "(labels known)", elem_id="example")
                model_path = gr.Textbox(value=default_model, label="Checkpoint (folder or Hub id)")
                run = gr.Button("Analyse", variant="primary", elem_id="analyse")
        with gr.Row():
            layer = gr.Dropdown(choices=layer_choices, value=layer_choices[-1], label="Layer", elem_id="layer")
            head = gr.Dropdown(choices=head_choices, value=0, label="Head", elem_id="head")
            mode = gr.Radio(choices=list(MODES), value=MODES[0], label="Onset curve from")
            window_start = gr.Slider(0.0, MAX_SECONDS, value=0.0, step=0.5, label="Attention window start (s)")
        status = gr.Markdown("Upload a file or choose an example, then press Analyse.", elem_id="status")
        images = {
            "log_mel": gr.Image(label="Log-mel input", type="filepath", elem_id="fig-log_mel"),
            "attention": gr.Image(label="Attention map (one 4 s window)", type="filepath", elem_id="fig-attention"),
            "onsets": gr.Image(label="Onsets read from attention", type="filepath", elem_id="fig-onsets"),
            "ssm": gr.Image(label="Self-similarity per layer", type="filepath", elem_id="fig-ssm"),
            "windows": gr.Image(label="Class-token similarity between windows", type="filepath",
                                elem_id="fig-windows"),
        }
        exploration, waveform = gr.State(None), gr.State(None)
        run.click(analyse, [upload, example, model_path, layer, head, mode, window_start],
                  [status, *[images[figure] for figure in FIGURES], exploration, waveform])
        for selector in (layer, head, mode):
            selector.change(redraw, [exploration, layer, head, mode], [images["attention"], images["onsets"]])
        window_start.release(move_window, [exploration, waveform, model_path, layer, head, mode, window_start],
                             [images["attention"], images["onsets"], exploration])
    return app


def _failure(message: str):
    """What `analyse` returns for a problem: the message in the page, the figures left empty."""
    return (f"**Cannot analyse:** {message}", *[None] * len(FIGURES), None, None)


SPACE_README = """---
title: ViT-1D explorer
emoji: 🎼
colorFrom: indigo
colorTo: purple
sdk: gradio
app_file: app.py
pinned: false
license: apache-2.0
---

# ViT-1D explorer

What a ViT-1D music encoder (Kong et al., ISMIR 2025) does with a track: the log-mel input, attention per layer and
head, onsets read from attention, self-similarity per layer and the class-token similarity between windows. Built by
`python app.py --write_space DIR` from the [vit1d](https://pypi.org/project/vit1d/) repository, with its released
checkpoint `{checkpoint}`.
"""


def write_space(folder: str | Path) -> Path:
    """A Hugging Face Space of the explorer in `folder`: `app.py`, the package's source and `setup.py` (the Space's
    `requirements.txt` installs `.[explorer]` from them), the released checkpoint under `pretrained/`, and a README
    whose header tells the Hub to run `app.py` with Gradio. Push the folder as a Space (`huggingface_hub.upload_folder
    (repo_type="space")`); `python app.py` runs it the same way locally."""
    import shutil

    root, folder = Path(__file__).resolve().parents[1], Path(folder)
    sources = {"app.py": root / "app.py", "setup.py": root / "setup.py", "vit1d": root / "vit1d",
               f"pretrained/{RELEASED.name}": RELEASED}
    missing = [str(path) for path in sources.values() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"A Space is built from a clone of the vit1d repository; missing here: {missing}.")
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, source in sources.items():
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, folder / name)
    (folder / "requirements.txt").write_text(".[explorer]\n")
    (folder / "README.md").write_text(SPACE_README.format(checkpoint=f"pretrained/{RELEASED.name}"))
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description="The ViT-1D explorer (a Gradio page).")
    parser.add_argument("--model", default=None, help="Checkpoint folder or Hub id (default: the released one).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="0.0.0.0 to serve other machines (a Space sets GRADIO_SERVER_NAME).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--write_space", metavar="DIR", default=None,
                        help="Write a Hugging Face Space of the explorer to DIR instead of serving it.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.write_space:
        print(f"Space written to {write_space(args.write_space)}: push it with huggingface_hub.upload_folder("
              "repo_type='space').")
        return
    build_app(args.model).launch(server_name=args.host, server_port=args.port)


__all__ = ["Exploration", "build_app", "draw", "explore_track", "main", "read_track", "rendered_examples",
           "write_space"]
