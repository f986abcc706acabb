"""Publishing on the Hub end to end, offline: push an encoder folder with `vit1d.hub.push_folder_to_hub`, then load it
by commit sha with `trust_remote_code=True` in a process that never imports vit1d, and read its model card back.

The Hub is `HubTestServer` (tests/hub_test_server.py) on a loopback port, in this process. The pushing and pulling
clients run in subprocesses because huggingface_hub reads `HF_ENDPOINT` when it is imported, as users set it: the
subprocesses see exactly the environment a user pointing at a Hub mirror would have (`hub_env`). The server-behaviour
checks at the end run in-process against `endpoint=server.url`, which every huggingface_hub call used there accepts.

Reusable helpers: `hub_env(server, home)`, `push_folder(server, folder, repo_id, home)` (returns the commit sha) and
`load_card(server, repo_id, home, revision)` (the card's metadata dict and Markdown, as fetched from the server).
"""

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import music_like, tiny_config
from hub_test_server import HubTestServer
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

import vit1d
from vit1d.hub import AUTO_CLASSES, check_model_card, model_card, push_folder_to_hub

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "test-org/vit1d-tiny"
REMOTE_FILES = ("configuration_vit1d.py", "modeling_vit1d.py", "feature_extraction_vit1d.py")
TRAINING_RECIPE = {"objective": "NT-Xent on class tokens", "global_batch_pairs": 8, "steps": 2, "precision": "no",
                   "hardware": "1 x CPU (cpu)"}
# `run_probe.py`'s file layout, two tasks (the numbers are made up: what matters is that the card repeats them).
PROBE_RESULTS = {"model": "encoder", "random_init": False, "num_tracks": {"train": 8, "validation": 2, "test": 2},
                 "results": [
                     {"task": "key", "dataset": "data/corpus", "split": "test", "representation": "class",
                      "layers": [12], "metrics": {"accuracy": 0.5, "weighted_score": 0.6123456789012345}},
                     {"task": "beat", "dataset": "data/corpus", "split": "test", "representation": "sequence",
                      "layers": [3, 6, 9, 12], "metrics": {"F-measure": 0.7071067811865476, "Cemgil": 0.5}},
                 ]}


# -- helpers (reusable by other Hub tests) -------------------------------------------------------------------------


def hub_env(server: HubTestServer, home: str | Path) -> dict:
    """The environment of a client process that talks to `server` and nothing else: every inherited `HF_*`,
    `HUGGINGFACE_*` and `TRANSFORMERS_*` variable and `PYTHONPATH` removed (a developer's token, offline flag or cache
    must not leak in), then the endpoint, a dummy token, no Xet (the server stores plain files), online, and
    caches (hub files, remote-code modules) under `home`, so that each process starts from empty caches."""
    home = Path(home)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_")) and key != "PYTHONPATH"}
    env.update(
        HF_ENDPOINT=server.url, HF_TOKEN="dummy", HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0",
        HF_HOME=str(home / "hf_home"), HF_HUB_CACHE=str(home / "hf_home" / "hub"),
        HF_MODULES_CACHE=str(home / "hf_home" / "modules"), HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    return env


def _run(script: str, args: list, env: dict, cwd: Path, timeout: int = 300) -> dict:
    """Run a client script; it prints one JSON line last, which is returned."""
    Path(cwd).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"client failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


PUSH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import vit1d
    from vit1d.hub import push_folder_to_hub

    info = push_folder_to_hub(sys.argv[1], sys.argv[2])
    print(json.dumps({"oid": info.oid, "commit_url": info.commit_url, "vit1d": vit1d.__file__}))
    """
)


def push_folder(server: HubTestServer, folder: str | Path, repo_id: str, home: str | Path | None = None) -> str:
    """Upload `folder` to `server` with `vit1d.hub.push_folder_to_hub` from a fresh process, as a user would after
    training; returns the new commit's sha. The process imports this checkout's vit1d (PYTHONPATH)."""
    with contextlib.ExitStack() as stack:
        home = Path(home) if home is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {**hub_env(server, home), "PYTHONPATH": str(REPO_ROOT)}
        result = _run(PUSH_SCRIPT, [folder, repo_id], env, cwd=home)
    assert Path(result["vit1d"]).resolve().is_relative_to(REPO_ROOT), result["vit1d"]
    assert result["commit_url"] == f"{server.url}/{repo_id}/commit/{result['oid']}"
    return result["oid"]


CARD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from huggingface_hub import ModelCard, hf_hub_download

    repo_id, revision = sys.argv[1], sys.argv[2] or None
    if revision is None:
        card = ModelCard.load(repo_id)  # what users call; it reads `main`
    else:
        card = ModelCard.load(hf_hub_download(repo_id, "README.md", revision=revision))
    print(json.dumps({"data": card.data.to_dict(), "content": card.content}))
    """
)


def load_card(server: HubTestServer, repo_id: str, home: str | Path, revision: str | None = None) -> dict:
    """The model card on `server` as `huggingface_hub.ModelCard` reads it in a client process: {"data": metadata
    dict (`model-index` included), "content": the full README text}. Parse `content` with `ModelCard(content)` for
    checks that need the object."""
    return _run(CARD_SCRIPT, [repo_id, revision or ""], hub_env(server, home), cwd=Path(home))


PULL_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class RefuseVit1d(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "vit1d" or name.startswith("vit1d."):
                raise ImportError("vit1d must not be imported by the Hub pull test")

    sys.meta_path.insert(0, RefuseVit1d())
    import numpy as np, torch
    from transformers import AutoFeatureExtractor, AutoModel

    repo_id, revision, waveform_path, out_path = sys.argv[1:5]
    # First, as a cautious user would: without trust_remote_code the custom code must not run.
    try:
        AutoModel.from_pretrained(repo_id, revision=revision, trust_remote_code=False)
        refusal = None
    except Exception as error:
        refusal = f"{type(error).__name__}: {error}"
    extractor = AutoFeatureExtractor.from_pretrained(repo_id, revision=revision, trust_remote_code=True)
    model = AutoModel.from_pretrained(repo_id, revision=revision, trust_remote_code=True).eval()
    inputs = extractor(np.load(waveform_path), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs, output_hidden_states=True)
    np.savez(out_path, input_values=inputs["input_values"].numpy(),
             last_hidden_state=outputs.last_hidden_state.numpy(), pooler_output=outputs.pooler_output.numpy(),
             hidden_states=torch.stack(outputs.hidden_states).numpy())
    print(json.dumps({
        "refusal": refusal, "model_class": type(model).__name__, "module": type(model).__module__,
        "extractor_class": type(extractor).__name__,
        "vit1d_imported": any(m == "vit1d" or m.startswith("vit1d.") for m in sys.modules),
    }))
    """
)


def tiny_png(width: int = 8, height: int = 4) -> bytes:
    """A valid RGB PNG (a colour ramp) from the standard library, standing in for a training figure."""
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (32 * x % 256, 64 * y % 256, 128))
                    for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def _auto_classes_restored():
    """conftest's `restore_auto_classes` for module-scoped fixtures: `prepare_for_hub` sets class attributes."""
    classes = [*AUTO_CLASSES.values(), vit1d.ViT1DFeatureExtractor]
    saved = {cls: cls.__dict__.get("_auto_class") for cls in classes}
    try:
        yield
    finally:
        for cls, value in saved.items():
            if value is None and "_auto_class" in cls.__dict__:
                delattr(cls, "_auto_class")
            elif value is not None:
                cls._auto_class = value


# -- fixtures --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub():
    with HubTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    """A folder laid out like `run_pretraining.py`'s output: the encoder (weights, config with auto_map, extractor,
    code files), its card, the recipe, a figure, and the checkpoints and tracker logs that must stay local."""
    folder = tmp_path_factory.mktemp("encoder")
    torch.manual_seed(0)
    model = vit1d.ViT1DModel(tiny_config(num_mel_bins=128)).eval()
    extractor = vit1d.ViT1DFeatureExtractor()
    with _auto_classes_restored():
        vit1d.prepare_for_hub(model, extractor)
        model.save_pretrained(folder)
        extractor.save_pretrained(folder)
        (folder / "checkpoints" / "checkpoint-2" / "encoder").mkdir(parents=True)
        model.save_pretrained(folder / "checkpoints" / "checkpoint-2" / "encoder")
    (folder / "checkpoints" / "checkpoint-2" / "optimizer.bin").write_bytes(b"\0" * 64)
    (folder / "runs" / "pretraining").mkdir(parents=True)
    (folder / "runs" / "pretraining" / "events.out.tfevents.0").write_bytes(b"log")
    (folder / "training_recipe.json").write_text(json.dumps(TRAINING_RECIPE, indent=2))
    (folder / "figures").mkdir()
    (folder / "figures" / "attention.png").write_bytes(tiny_png())
    (folder / "probe_results.json").write_text(json.dumps(PROBE_RESULTS, indent=1))
    model_card(model, extractor, repo_id=REPO_ID, training_recipe=TRAINING_RECIPE, probe_results=[PROBE_RESULTS],
               figures={"Attention maps": "figures/attention.png"}).save(folder / "README.md")
    return folder, model, extractor


@pytest.fixture(scope="module")
def pushed(hub, encoder_folder, tmp_path_factory):
    """The sha of the commit `push_folder_to_hub` made of `encoder_folder` on the test Hub."""
    return push_folder(hub, encoder_folder[0], REPO_ID, tmp_path_factory.mktemp("push"))


@pytest.fixture(scope="module")
def pulled(hub, pushed, tmp_path_factory):
    """One fresh client process without vit1d: refused without trust_remote_code, then the model and extractor
    loaded by sha and run on a fixed clip. Returns (its report, its arrays, the requests it made, its folder)."""
    work = tmp_path_factory.mktemp("pull")
    np.save(work / "waveform.npy", music_like(3.0, seed=5))
    first_request = len(hub.requests)
    report = _run(PULL_SCRIPT, [REPO_ID, pushed, work / "waveform.npy", work / "outputs.npz"], hub_env(hub, work),
                  cwd=work)
    arrays = dict(np.load(work / "outputs.npz"))
    return report, arrays, hub.requests[first_request:], work


# -- end to end ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_push_uploads_the_encoder_folder_but_not_checkpoints_or_logs(hub, encoder_folder, pushed):
    folder, _, _ = encoder_folder
    assert hub.repo_exists(REPO_ID)
    assert hub.head(REPO_ID) == pushed
    remote = hub.files(REPO_ID, revision=pushed)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", *REMOTE_FILES, "README.md",
                 "training_recipe.json", "figures/attention.png"):
        assert name in remote, name
    assert not [name for name in remote if name.startswith(("checkpoints/", "runs/"))]
    # Byte for byte what is on disk, and nothing else but the repo's own .gitattributes.
    expected = {name: data for name, data in local_files(folder).items()
                if not name.startswith(("checkpoints/", "runs/"))}
    assert {name: data for name, data in remote.items() if name != ".gitattributes"} == expected
    history = hub.commits(REPO_ID)
    assert [commit.title for commit in history] == ["Upload ViT-1D encoder", "initial commit"]
    assert hub.unhandled == []


@pytest.mark.slow
def test_pull_by_sha_without_vit1d_gives_the_local_outputs(hub, pulled, encoder_folder, pushed):
    report, arrays, requests, work = pulled
    _, model, extractor = encoder_folder
    assert report["model_class"] == "ViT1DModel" and report["module"].startswith("transformers_modules.")
    assert report["extractor_class"] == "ViT1DFeatureExtractor"
    assert report["vit1d_imported"] is False
    assert pushed in report["module"]  # the code was fetched at the pinned commit
    # Everything came from the pinned commit of the test Hub, into the process's own empty cache.
    downloads = [path for method, path, status in requests if "/resolve/" in path and status == 200]
    assert {path.rsplit("/", 1)[-1] for path in downloads} >= {"config.json", "model.safetensors", *REMOTE_FILES}
    assert all(path.startswith(f"/{REPO_ID}/resolve/{pushed}/") for path in downloads)
    snapshot = work / "hf_home" / "hub" / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / pushed
    assert (snapshot / "model.safetensors").is_file()
    assert hub.unhandled == []

    inputs = extractor(music_like(3.0, seed=5), sampling_rate=16000, return_tensors="pt")
    np.testing.assert_array_equal(arrays["input_values"], inputs["input_values"].numpy())
    with torch.no_grad():
        outputs = model(**inputs, output_hidden_states=True)
    expected = {"last_hidden_state": outputs.last_hidden_state, "pooler_output": outputs.pooler_output,
                "hidden_states": torch.stack(outputs.hidden_states)}
    for name, value in expected.items():
        np.testing.assert_allclose(arrays[name], value.numpy(), rtol=0, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_pull_without_trust_remote_code_is_refused(pulled):
    report, _, _, _ = pulled
    assert report["refusal"] is not None, "the custom code loaded without trust_remote_code"
    assert "trust_remote_code" in report["refusal"]


@pytest.mark.slow
def test_pushed_model_card_parses_with_hub_metadata(hub, encoder_folder, pushed, tmp_path):
    folder, _, _ = encoder_folder
    card = load_card(hub, REPO_ID, tmp_path)
    data = card["data"]
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "feature-extraction"
    assert "custom_code" in data["tags"]
    assert card["content"] == (folder / "README.md").read_text()
    assert REPO_ID in card["content"]  # the loading snippets name the repo
    # model-index holds exactly the numbers of the folder's probe_results.json.
    probe_results = json.loads((folder / "probe_results.json").read_text())
    check_model_card(card["content"], [probe_results])
    index = {metric["name"]: metric["value"] for result in data["model-index"][0]["results"]
             for metric in result["metrics"]}
    assert index["weighted_score (class, layers 12)"] == probe_results["results"][0]["metrics"]["weighted_score"]
    assert index["F-measure (sequence, layers 3,6,9,12)"] == probe_results["results"][1]["metrics"]["F-measure"]
    # The same card pinned by sha.
    assert load_card(hub, REPO_ID, tmp_path, revision=pushed)["content"] == card["content"]


# -- the server itself (in-process, fast) ---------------------------------------------------------------------------


@pytest.fixture
def online(monkeypatch):
    """In-process clients must reach the test server even when the caller exported HF_HUB_OFFLINE=1."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_server_errors_are_the_hub_client_exceptions(hub, online, tmp_path):
    sha = hub.seed("test-org/errors", {"config.json": b"{}"})
    cache = tmp_path / "cache"
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("test-org/errors", "missing.json", endpoint=hub.url, cache_dir=cache, token="dummy")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-org/unknown", "config.json", endpoint=hub.url, cache_dir=cache, token="dummy")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("test-org/errors", "config.json", revision="no-such-branch", endpoint=hub.url,
                        cache_dir=cache, token="dummy")
    api = HfApi(endpoint=hub.url, token="dummy")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-org/unknown")
    assert api.file_exists("test-org/errors", "config.json") and not api.file_exists("test-org/errors", "x.json")
    # HEAD answers directly (no redirect) with what hf_hub_download needs.
    url = hf_hub_url("test-org/errors", "config.json", endpoint=hub.url)
    metadata = get_hf_file_metadata(url, token="dummy")
    assert (metadata.commit_hash, metadata.location, metadata.size) == (sha, url, 2)
    # Writes need a token, as on the Hub.
    with pytest.raises(HfHubHTTPError) as error:
        HfApi(endpoint=hub.url, token=False).create_repo("test-org/anonymous")
    assert error.value.response.status_code == 401


def test_server_lists_trees_refs_and_commits_like_the_hub(hub, online):
    sha = hub.seed("test-org/listing", {"a.txt": b"a", "sub/b.txt": b"b", "sub/deep/c.txt": b"c"})
    api = HfApi(endpoint=hub.url, token="dummy")
    assert api.model_info("test-org/listing").sha == sha
    assert sorted(api.list_repo_files("test-org/listing")) == [".gitattributes", "a.txt", "sub/b.txt",
                                                               "sub/deep/c.txt"]
    top = {entry.path: type(entry).__name__ for entry in api.list_repo_tree("test-org/listing")}
    assert top == {".gitattributes": "RepoFile", "a.txt": "RepoFile", "sub": "RepoFolder"}
    assert {e.path for e in api.list_repo_tree("test-org/listing", "sub")} == {"sub/b.txt", "sub/deep"}
    assert api.list_repo_refs("test-org/listing").branches[0].target_commit == sha
    assert [c.commit_id for c in api.list_repo_commits("test-org/listing")] == [c.oid for c in
                                                                               hub.commits("test-org/listing")]


def test_second_push_makes_a_new_commit_and_the_old_sha_still_resolves(hub, online, encoder_folder, tmp_path,
                                                                       monkeypatch):
    """Pinned revisions are what make `trust_remote_code` safe to use: after a new push, the old sha must still give
    the old files. Pushed in-process here (push_folder_to_hub has no endpoint argument: the module constant is
    patched), which also checks that the client skips unchanged files thanks to the preupload `oid`.

    Only the pushes run with the patch: `hf_hub_url` swaps in an `endpoint=` argument only for URLs that start with
    `constants.ENDPOINT`, and its URL template was fixed at import, so downloads must see the original constant."""
    folder = tmp_path / "encoder"
    shutil.copytree(encoder_folder[0], folder)
    repo_id = "test-org/vit1d-history"
    old_readme = (folder / "README.md").read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(constants, "ENDPOINT", hub.url)
        patch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        first = push_folder_to_hub(folder, repo_id, token="dummy").oid
        (folder / "README.md").write_bytes(old_readme + b"\nRetrained for 4 steps.\n")
        (folder / "training_recipe.json").write_text(json.dumps({**TRAINING_RECIPE, "steps": 4}))
        second = push_folder_to_hub(folder, repo_id, token="dummy", commit_message="Retrain").oid

    assert second != first and hub.head(repo_id) == second
    latest = hub.commits(repo_id)[0]
    assert (latest.oid, latest.parent, latest.title) == (second, first, "Retrain")
    assert sorted(latest.added) == ["README.md", "training_recipe.json"]  # unchanged files were not re-sent
    cache = tmp_path / "cache"

    def download(name, revision):
        return Path(hf_hub_download(repo_id, name, revision=revision, endpoint=hub.url, cache_dir=cache,
                                    token="dummy")).read_bytes()

    assert download("README.md", first) == old_readme
    assert download("README.md", second) == download("README.md", "main") == (folder / "README.md").read_bytes()
    assert download("model.safetensors", first) == download("model.safetensors", second)
    assert json.loads(download("training_recipe.json", first))["steps"] == 2
