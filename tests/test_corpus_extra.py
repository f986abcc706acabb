"""`pip install vit1d` without the corpus extra: the package imports, embeds, probes and pretrains on your own data,
and rendering the built-in corpus says which extra to install. The absence of music21, pretty_midi and tinysoundfont
is simulated in a fresh interpreter (`sys.modules[name] = None` makes `import name` fail and `find_spec` return None,
as for a package that is not installed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from vit1d.synthetic import synthetic_music

REPO = Path(__file__).resolve().parents[1]
WITHOUT_EXTRA = "import sys\nfor name in ('music21', 'pretty_midi', 'tinysoundfont'):\n    sys.modules[name] = None\n"


def run_without_extra(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRA + code], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


@pytest.fixture(scope="module")
def manifest_dataset(tmp_path_factory):
    """A user's dataset: audio files and per-split manifests with key labels (no rendered corpus)."""
    folder = tmp_path_factory.mktemp("user_data")
    rows = {"train": [], "validation": [], "test": []}
    for index in range(8):
        split = {3: "test", 2: "validation"}.get(index % 4, "train")
        name = f"track{index}.flac"
        sf.write(folder / name, synthetic_music(6.0, 16000, seed=index), 16000)
        rows[split].append({"audio_path": name, "key": ["C major", "A minor"][index % 2]})
    for split, split_rows in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in split_rows))
    return folder


def test_without_the_corpus_extra_the_package_embeds_probes_and_pretrains(manifest_dataset, tmp_path):
    code = f"""
import json, torch, vit1d
from vit1d.probing.runner import ProbeArguments, run_probe
from vit1d.training.arguments import parse_arguments
from vit1d.training.pretraining import pretrain
assert sys.modules["music21"] is None  # the blocker held
model = vit1d.ViT1DModel(vit1d.ViT1DConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                           num_attention_heads=2)).eval()
embedded = vit1d.embed_long_audio(model, vit1d.ViT1DFeatureExtractor(), "{manifest_dataset}/track0.flac")
model.save_pretrained("encoder")
vit1d.ViT1DFeatureExtractor().save_pretrained("encoder")
probe = run_probe(ProbeArguments(task="key", data="{manifest_dataset}", model_name_or_path="encoder",
                                 output_dir="probe", cache_dir="cache", max_steps=20, eval_every=10))
result = pretrain(*parse_arguments(["--data", "{manifest_dataset}", "--output_dir", "run", "--max_steps", "2",
                                    "--per_device_train_batch_size", "4", "--config_overrides",
                                    "num_hidden_layers=1,hidden_size=32,intermediate_size=64,num_attention_heads=2",
                                    "--short_tracks", "widest", "--mix_tracks", "4", "--report_to", "none"]))
print(json.dumps({{"windows": len(embedded.window_times), "probe_tracks": probe["num_tracks"],
                  "steps": result.steps}}))
"""
    done = run_without_extra(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["windows"] == 2 and report["probe_tracks"]["test"] == 2 and report["steps"] == 2


def test_rendering_without_the_corpus_extra_names_it(tmp_path):
    code = """
from vit1d.corpus.render import write_corpus
try:
    write_corpus("corpus", pieces=4, seconds=4.0, seed=0)
except ImportError as error:
    print(error)
else:
    raise SystemExit("rendering worked without the corpus extra")
"""
    done = run_without_extra(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'pip install "vit1d[corpus]" && pip install --no-deps tinysoundfont' in done.stdout
