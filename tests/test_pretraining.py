"""The pretraining loop's parts (arguments, optimisation, metrics, checkpoints) and a short end-to-end run."""

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard

import vit1d
from vit1d.corpus.render import write_corpus
from vit1d.training import checkpointing
from vit1d.training.arguments import DEMO_OVERRIDES, parse_arguments, read_config_file
from vit1d.training.metrics import embedding_metrics
from vit1d.training.optimization import parameter_groups, set_weight_decay, warmup_cosine_factor

REPO = Path(__file__).resolve().parents[1]
TINY = "num_hidden_layers=2,hidden_size=64,intermediate_size=128,num_attention_heads=2"


# -- arguments ------------------------------------------------------------------------------------------------------


def test_config_file_then_command_line(tmp_path):
    (tmp_path / "run.yaml").write_text("data: some/folder\nmax_steps: 7\nlearning_rate: 0.002\nsave_steps: 3\n")
    model_args, data_args, args = parse_arguments(["--config", str(tmp_path / "run.yaml"), "--max_steps", "9"])
    assert data_args.data == "some/folder" and args.learning_rate == 0.002 and args.save_steps == 3
    assert args.max_steps == 9  # the command line wins
    assert args.per_device_train_batch_size == 128  # paper default: a --data run gets no demo settings
    (tmp_path / "run.json").write_text(json.dumps({"data": "x", "pairs_per_track": 3}))
    assert parse_arguments(["--config", str(tmp_path / "run.json")])[1].pairs_per_track == 3


def test_config_file_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("max_stepz: 7\n")
    with pytest.raises(ValueError, match="Unknown arguments.*max_stepz"):
        read_config_file(tmp_path / "bad.yaml")
    (tmp_path / "bad.toml").write_text("")
    with pytest.raises(ValueError, match=".yaml, .yml or .json"):
        read_config_file(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match="hub_model_id"):
        parse_arguments(["--data", "x", "--push_to_hub"])


def test_the_demo_preset_is_named_applies_where_not_given_and_says_what_it_set(caplog, capsys):
    with caplog.at_level("INFO", logger="vit1d.training.arguments"):
        _, data_args, args = parse_arguments(["--preset", "demo", "--max_steps=5"])
    assert data_args.data is None and args.max_steps == 5
    assert args.per_device_train_batch_size == DEMO_OVERRIDES["per_device_train_batch_size"]
    assert data_args.pairs_per_track == DEMO_OVERRIDES["pairs_per_track"]
    assert "--preset demo set {'per_device_train_batch_size': 16" in caplog.text
    assert "kept your ['max_steps']" in caplog.text
    # Without --data, the defaults are never swapped silently: the preset must be named.
    with pytest.raises(SystemExit):
        parse_arguments(["--max_steps", "5"])
    assert "No --data" in capsys.readouterr().err
    # With --data and no preset, the paper's defaults stand; a preset may still be named with --data.
    assert parse_arguments(["--data", "x"])[2].per_device_train_batch_size == 128
    assert parse_arguments(["--data", "x", "--preset", "demo"])[2].per_device_train_batch_size == 16


def test_abbreviated_flags_are_refused_so_demo_settings_never_replace_them(capsys):
    # Demo settings replace every default the user did not name; an abbreviation would name nothing they know of.
    with pytest.raises(SystemExit):
        parse_arguments(["--preset", "demo", "--max_step", "5"])
    error = capsys.readouterr().err
    assert "unrecognized arguments: --max_step 5" in error and "--max_step: did you mean --max_steps?" in error
    assert "spelled in full" in error
    assert parse_arguments(["--preset", "demo", "--max_steps", "5"])[2].max_steps == 5
    # The dashed spelling is a full name too.
    assert parse_arguments(["--preset", "demo", "--max-steps=5"])[2].max_steps == 5
    with pytest.raises(SystemExit):
        parse_arguments(["--data", "x", "--conf", "run.yaml"])
    assert "did you mean --config" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, allowed", [
    ("logging_steps", "0", ">= 1"), ("save_steps", "-1", ">= 0"), ("gradient_accumulation_steps", "0", ">= 1"),
    ("per_device_train_batch_size", "0", ">= 1"), ("learning_rate", "0", "> 0"), ("adam_beta2", "1", "in [0, 1)"),
    ("min_learning_rate_ratio", "1.5", "in [0, 1]"), ("max_grad_norm", "-1", ">= 0"), ("pairs_per_track", "0", ">= 1"),
    ("mix_tracks", "0", ">= 1"), ("num_workers", "-1", ">= 0"), ("crop_seconds", "0", "> 0"),
])
def test_out_of_range_arguments_are_refused_before_the_run(flag, value, allowed):
    with pytest.raises(ValueError, match=f"--{flag} must be {re.escape(allowed)}, got {value}"):
        parse_arguments(["--data", "x", f"--{flag}", value])


def test_range_boundaries_are_accepted():
    _, _, args = parse_arguments(["--data", "x", "--save_steps", "0", "--min_learning_rate_ratio", "1",
                                  "--warmup_steps", "0", "--max_grad_norm", "0", "--save_total_limit", "0"])
    assert (args.save_steps, args.min_learning_rate_ratio, args.warmup_steps) == (0, 1.0, 0)


# -- optimisation and metrics ---------------------------------------------------------------------------------------


def test_no_weight_decay_on_biases_norms_class_token_and_positions():
    config = vit1d.ViT1DConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                               position_embedding_type="learned", max_frames=16)
    model = vit1d.ViT1DForContrastivePretraining(config)
    decay, no_decay = parameter_groups(model, 0.04)
    names = {id(p): n for n, p in model.named_parameters()}
    exempt = {names[id(p)] for p in no_decay["params"]}
    decayed = {names[id(p)] for p in decay["params"]}
    assert "vit1d.embeddings.cls_token" in exempt and "vit1d.embeddings.position_embeddings" in exempt
    assert all(n.endswith(".bias") or "norm" in n or n.startswith("vit1d.embeddings.") for n in exempt)
    assert all(n.endswith(".weight") and "norm" not in n for n in decayed)
    assert decayed | exempt == set(names.values()) and no_decay["weight_decay"] == 0.0


def test_warmup_cosine_and_weight_decay_schedules():
    factors = [warmup_cosine_factor(step, 10, 110) for step in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0) and factors[10] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.5) and factors[-1] < 0.001
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    optimizer = torch.optim.AdamW(parameter_groups(torch.nn.Linear(2, 2), 0.04))
    assert set_weight_decay(optimizer, 0, 100, 0.04, 0.01) == pytest.approx(0.04)
    assert set_weight_decay(optimizer, 99, 100, 0.04, 0.01) == pytest.approx(0.01)
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(0.01)
    assert optimizer.param_groups[1]["weight_decay"] == 0.0


def test_embedding_metrics_against_direct_formulas():
    torch.manual_seed(0)
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    a[0] = b[0] * 3  # one pair is perfectly aligned
    loss, logits = vit1d.nt_xent_loss(a, b, temperature=0.1)
    metrics = embedding_metrics(logits, 0.1)
    z = F.normalize(torch.cat([a, b]), dim=1)
    partner = torch.arange(12).roll(6)
    sims = z @ z.T
    sims.fill_diagonal_(-2)
    assert metrics["retrieval_top1"] == pytest.approx((sims.argmax(1) == partner).float().mean().item())
    za, zb = F.normalize(a, dim=1), F.normalize(b, dim=1)
    assert metrics["alignment"] == pytest.approx((za - zb).pow(2).sum(1).mean().item(), abs=1e-5)
    distances = torch.cdist(z, z).pow(2)
    off = ~torch.eye(12, dtype=torch.bool)
    assert metrics["uniformity"] == pytest.approx(distances[off].mul(-2).exp().mean().log().item(), abs=1e-5)


def test_recipe_names_the_initialisation_and_the_data_rules():
    from vit1d.training.arguments import DataArguments, ModelArguments
    from vit1d.training.pretraining import data_order_of, initialisation_of

    assert initialisation_of(ModelArguments(model_name_or_path="org/vit1d-base", revision="v2")) == (
        "continued from the weights of org/vit1d-base (revision v2)")
    assert initialisation_of(ModelArguments()) == "random (config: ViT1DConfig defaults)"
    assert initialisation_of(ModelArguments(config_name="org/cfg", config_overrides="num_hidden_layers=4")) == (
        "random (config: org/cfg with num_hidden_layers=4)")
    assert data_order_of(DataArguments(shuffle_buffer=0, mix_tracks=8)) == (
        "no shuffle (the source's order), pairs of 8 tracks interleaved before batching")


# -- checkpoints ----------------------------------------------------------------------------------------------------


def test_checkpoint_listing_ignores_and_removes_partial_saves(tmp_path):
    root = checkpointing.checkpoint_root(tmp_path)
    for step in (5, 10, 20):
        (root / f"step-{step:08d}").mkdir(parents=True)
        (root / f"step-{step:08d}" / "trainer_state.json").write_text(json.dumps({"step": step}))
    (root / ".tmp-step-00000030").mkdir()
    assert [p.name for p in checkpointing.list_checkpoints(tmp_path)] == [f"step-{s:08d}" for s in (5, 10, 20)]
    assert checkpointing.resolve_checkpoint(tmp_path, "latest").name == "step-00000020"
    assert checkpointing.resolve_checkpoint(tmp_path / "nothing", "latest") is None
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        checkpointing.resolve_checkpoint(tmp_path, str(root / ".tmp-step-00000030"))
    assert checkpointing.remove_partial_checkpoints(tmp_path) == [root / ".tmp-step-00000030"]
    assert not (root / ".tmp-step-00000030").exists()


# -- end to end -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    # Pretraining reads the train split alone: every piece goes there (stratified default splits would keep 8 of 16).
    write_corpus(folder, pieces=16, seconds=20, seed=1, split_fractions=(1.0, 0.0, 0.0))
    return folder


def reset_accelerate_state():
    """Accelerate's state is process-global; each in-process run must start from a clean one."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    yield
    reset_accelerate_state()


def run_argv(corpus, output_dir, *extra) -> list[str]:
    return ["--data", str(corpus), "--output_dir", str(output_dir), "--config_overrides", TINY,
            "--per_device_train_batch_size", "16", "--warmup_steps", "3", "--logging_steps", "1",
            "--pairs_per_track", "4", "--mix_tracks", "16", "--shuffle_buffer", "16", "--num_workers", "0",
            "--report_to", "none", *extra]


def run(corpus, output_dir, *extra):
    from run_pretraining import main

    return main(run_argv(corpus, output_dir, *extra))


def read_log(output_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / "logs.jsonl").read_text().splitlines()]


def test_short_run_learns_and_writes_a_loadable_encoder(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    flags = ("--max_steps", "24", "--save_steps", "12", "--encoder_every_steps", "8")
    result = run(corpus, tmp_path / "out", *flags)
    log = read_log(tmp_path / "out")
    assert [r["step"] for r in log] == list(range(1, 25)) and result.steps == 24
    expected = {"loss", "lr", "weight_decay", "grad_norm", "pairs_per_second", "skipped_tracks", "skipped",
                "retrieval_top1", "alignment", "uniformity"}
    assert expected <= set(log[0]) and all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in log)
    first, last = log[:6], log[-6:]
    assert np.mean([r["loss"] for r in last]) < 0.6 * np.mean([r["loss"] for r in first])
    assert np.mean([r["retrieval_top1"] for r in last]) > np.mean([r["retrieval_top1"] for r in first])
    assert log[0]["lr"] < log[3]["lr"] and log[-1]["lr"] < log[3]["lr"]  # warm-up, then cosine decay
    # Each record's lr and weight decay are the ones its optimizer step used (step n is the schedules' step n - 1).
    assert [r["lr"] for r in log] == pytest.approx([1e-3 * warmup_cosine_factor(n, 3, 24) for n in range(24)])
    assert log[0]["lr"] == pytest.approx(1e-3 / 3) and log[2]["lr"] == pytest.approx(1e-3)
    optimizer = torch.optim.AdamW(parameter_groups(torch.nn.Linear(2, 2), 0.04))
    assert [r["weight_decay"] for r in log] == pytest.approx(
        [set_weight_decay(optimizer, n, 24, 0.04, 0.01) for n in range(24)])

    out = tmp_path / "out"
    assert [p.name for p in checkpointing.list_checkpoints(out)] == ["step-00000012"]
    # The learning-curve encoders: every 8 steps before the end (the end is output_dir itself), kept, loadable.
    assert sorted(p.name for p in (out / "encoders").iterdir()) == ["step-00000008", "step-00000016"]
    curve_point = vit1d.ViT1DModel.from_pretrained(out / "encoders" / "step-00000016")
    assert json.loads((out / "encoders" / "step-00000016" / "training_recipe.json").read_text())["steps"] == 16
    final = vit1d.ViT1DModel.from_pretrained(out)
    assert not torch.equal(curve_point.embeddings.cls_token, final.embeddings.cls_token)
    encoder = vit1d.ViT1DModel.from_pretrained(out)
    assert encoder.config.num_hidden_layers == 2 and encoder.config.architectures == ["ViT1DModel"]
    assert "auto_map" in json.loads((out / "config.json").read_text())
    for name in ("modeling_vit1d.py", "configuration_vit1d.py", "feature_extraction_vit1d.py",
                 "preprocessor_config.json", "model.safetensors", "training_recipe.json"):
        assert (out / name).is_file(), name
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers" and "custom_code" in card.data.tags
    assert "NT-Xent" in card.text and "global_batch_pairs | 16" in card.text and "| steps | 24 |" in card.text
    recipe = json.loads((out / "training_recipe.json").read_text())
    assert recipe["final_loss"] == pytest.approx(log[-1]["loss"], abs=1e-4)
    assert recipe["initialisation"] == f"random (config: ViT1DConfig defaults with {TINY})"
    assert recipe["data_order"] == "shuffle buffer of 16 tracks, pairs of 16 tracks interleaved before batching"
    assert recipe["short_tracks"].startswith("skip:") and "own track" in recipe["negatives"]
    assert "peak normalisation off" in recipe["views"]
    assert 0 < recipe["wall_clock_seconds"] < 600
    assert "| initialisation | random" in card.text and "| data_order | shuffle buffer of 16" in card.text
    # The step-0 weights, as a loadable encoder: the initialisation this run trained from (the paired baseline).
    initial = vit1d.ViT1DModel.from_pretrained(out / "initial_encoder")
    torch.manual_seed(0)  # --seed 0: the run built its model right after seeding
    fresh = vit1d.ViT1DForContrastivePretraining(initial.config).vit1d
    trained = encoder.state_dict()
    for name, weights in initial.state_dict().items():
        torch.testing.assert_close(weights, fresh.state_dict()[name], msg=name)
    assert any(not torch.equal(weights, trained[name]) for name, weights in initial.state_dict().items())
    assert json.loads((out / "initial_encoder" / "training_recipe.json").read_text())["steps"] == 0
    # The run's resolved arguments: `--config` on the file gives the arguments of the command line, with the
    # precision the run resolved (the default, None, means Accelerate's choice: here "no").
    from vit1d.training.arguments import ARGUMENTS_FILE, parse_arguments

    model_args, data_args, args = parse_arguments(run_argv(corpus, out, *flags))
    args.mixed_precision = "no"
    assert parse_arguments(["--config", str(out / ARGUMENTS_FILE)]) == (model_args, data_args, args)


def test_bf16_and_gradient_accumulation_run_on_cpu(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    common = ("--save_steps", "0", "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "4")
    run(corpus, tmp_path / "bf16", "--max_steps", "3", "--mixed_precision", "bf16", *common)
    log = read_log(tmp_path / "bf16")
    assert [r["step"] for r in log] == [1, 2, 3] and all(math.isfinite(r["loss"]) for r in log)
    assert log[0]["pairs_per_second"] > 0
    assert json.loads((tmp_path / "bf16" / "training_recipe.json").read_text())["precision"] == "bf16"
    # bf16 autocast really ran: the same first step in fp32 gives a loss that differs by bf16 rounding only.
    reset_accelerate_state()
    run(corpus, tmp_path / "fp32", "--max_steps", "1", "--mixed_precision", "no", *common)
    fp32_loss = read_log(tmp_path / "fp32")[0]["loss"]
    assert 0 < abs(log[0]["loss"] - fp32_loss) < 0.05


def test_standardised_and_frame_normalised_input_is_trained_saved_and_recorded(corpus, tmp_path, monkeypatch):
    from vit1d import ViT1DFeatureExtractor, ViT1DModel

    monkeypatch.syspath_prepend(str(REPO))
    out = tmp_path / "standardised"
    argv = ("--max_steps", "2", "--save_steps", "0", "--per_device_train_batch_size", "4", "--standardize_mel_bins",
            "--config_overrides", TINY + ",frame_normalization=layer_norm,patch_activation=gelu")
    run(corpus, out, *argv)
    assert all(math.isfinite(r["loss"]) for r in read_log(out))
    for folder in (out, out / "initial_encoder"):  # the step-0 encoder reads its input the same way
        extractor = ViT1DFeatureExtractor.from_pretrained(folder)
        assert extractor.mel_mean is not None and len(extractor.mel_std) == 128
        assert ViT1DModel.from_pretrained(folder).config.frame_normalization == "layer_norm"
    # The statistics standardise the training audio: about zero mean and unit SD over the corpus's frames.
    train = sorted((corpus / "train").rglob("*.*"))
    from vit1d import load_audio

    frames = np.concatenate([extractor(load_audio(path, 16000, duration=4.0), sampling_rate=16000)["input_values"][0]
                             for path in train if path.suffix in (".flac", ".wav", ".ogg")])
    assert abs(frames.mean()) < 0.3 and 0.7 < frames.std() < 1.3
    recipe = json.loads((out / "training_recipe.json").read_text())
    assert recipe["input"] == (
        "Every real frame is standardised per mel bin with the training corpus's mean and SD (`mel_mean`, "
        "`mel_std` in preprocessor_config.json); the model normalises each frame over its mel bins (LayerNorm) before "
        "the projection; the projected tokens pass a gelu activation.")
    card = (out / "README.md").read_text()
    assert recipe["input"] in card  # the input contract of the model card says it too


def test_mixed_precision_set_by_accelerate_launch_is_used_and_recorded(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch --mixed_precision bf16` sets
    run(corpus, tmp_path / "launch", "--max_steps", "1", "--save_steps", "0")
    assert json.loads((tmp_path / "launch" / "training_recipe.json").read_text())["precision"] == "bf16"


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 autocast exists on CUDA; the refusal is for CPU runs")
def test_fp16_on_cpu_is_refused_instead_of_silently_training_in_fp32(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    with pytest.raises(ValueError, match="fp16 is not available on cpu.*bf16"):
        run(corpus, tmp_path / "fp16", "--max_steps", "1", "--mixed_precision", "fp16")
    assert not (tmp_path / "fp16" / "logs.jsonl").exists()


def test_gradient_accumulation_set_by_accelerate_launch_must_match_the_argument(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    # What `accelerate launch --gradient_accumulation_steps 2` (or a DeepSpeed config) sets: Accelerate would step the
    # optimizer every 2nd micro-batch while the loop counts one micro-batch per step.
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "2")
    with pytest.raises(ValueError, match=r"over 2 micro-batches .*ACCELERATE_GRADIENT_ACCUMULATION_STEPS.*"
                                         r"--gradient_accumulation_steps is 1: pass --gradient_accumulation_steps 2"):
        run(corpus, tmp_path / "mismatch", "--max_steps", "1")
    assert not (tmp_path / "mismatch").exists()
    reset_accelerate_state()
    run(corpus, tmp_path / "match", "--max_steps", "1", "--save_steps", "0", "--gradient_accumulation_steps", "2",
        "--per_device_train_batch_size", "4")
    assert [r["step"] for r in read_log(tmp_path / "match")] == [1]


def test_a_global_batch_of_one_pair_is_refused(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    with pytest.raises(ValueError, match="one pair per step, with no negatives"):
        run(corpus, tmp_path / "one", "--max_steps", "1", "--per_device_train_batch_size", "1")


def test_push_to_hub_uploads_the_encoder_folder_without_checkpoints(corpus, tmp_path, monkeypatch):
    calls = []

    class RecordingApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            files = sorted(p.relative_to(kwargs["folder_path"]).as_posix() for p in Path(kwargs["folder_path"]).rglob("*")
                           if p.is_file())
            calls.append(("files", files))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.syspath_prepend(str(REPO))
    run(corpus, tmp_path / "push", "--max_steps", "2", "--save_steps", "1", "--push_to_hub", "--hub_model_id",
        "org/vit1d-tiny", "--hub_private_repo", "--hub_token", "hf_dummy")
    assert calls[0] == ("init", "hf_dummy")
    assert calls[1][:2] == ("create_repo", "org/vit1d-tiny") and calls[1][2]["private"] is True
    upload = calls[2][1]
    assert upload["repo_id"] == "org/vit1d-tiny" and {"checkpoints/*", "initial_encoder/*"} <= set(
        upload["ignore_patterns"])
    assert Path(upload["folder_path"]) == tmp_path / "push" and "README.md" in calls[3][1]
    card = ModelCard.load(tmp_path / "push" / "README.md")
    assert "org/vit1d-tiny" in card.text


def test_run_pretraining_help_lists_every_argument():
    import subprocess

    out = subprocess.run([sys.executable, str(REPO / "run_pretraining.py"), "--help"], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    for flag in ("--data", "--config", "--resume_from_checkpoint", "--push_to_hub", "--mixed_precision",
                 "--gradient_accumulation_steps", "--max_grad_norm", "--pairs_per_track", "--num_workers"):
        assert flag in out


def test_shipped_recipe_config_parses():
    values = read_config_file(REPO / "configs" / "pretraining.yaml")
    _, data_args, args = parse_arguments(["--config", str(REPO / "configs" / "pretraining.yaml"), "--data", "x"])
    assert args.adam_beta2 == 0.98 and args.per_device_train_batch_size == 128 and data_args.pairs_per_track == 10
    assert set(values) >= {"max_steps", "learning_rate", "warmup_steps"}


def test_workers_prefetch_about_one_group_of_batches():
    from vit1d.data.pairs import PairSampling
    from vit1d.data.streaming import StreamOptions
    from vit1d.training.pretraining import prefetch_batches

    assert prefetch_batches(PairSampling(pairs_per_track=10), StreamOptions(batch_size=128, mix_tracks=64)) == 6
    assert prefetch_batches(PairSampling(pairs_per_track=1), StreamOptions(batch_size=128, mix_tracks=4)) == 2
    assert prefetch_batches(PairSampling(pairs_per_track=10), StreamOptions(batch_size=8, mix_tracks=64)) == 8


def test_resuming_with_another_reader_layout_is_refused(tmp_path):
    from vit1d.training.pretraining import check_same_layout

    check_same_layout({"num_processes": 2, "num_workers": 1}, 2, 1, tmp_path)
    with pytest.raises(ValueError, match="Resume with the same layout"):
        check_same_layout({"num_processes": 2, "num_workers": 1}, 1, 1, tmp_path)
    with pytest.raises(ValueError, match="--num_workers 2"):
        check_same_layout({"num_processes": 1, "num_workers": 1}, 1, 2, tmp_path)


def test_every_argument_is_deliberately_fixed_or_free_on_resume():
    from dataclasses import fields

    from vit1d.training.arguments import ARGUMENT_CLASSES, RESUME_FIXED, RESUME_MAY_CHANGE

    names = {f.name for cls in ARGUMENT_CLASSES for f in fields(cls)}
    assert not set(RESUME_FIXED) & set(RESUME_MAY_CHANGE)
    assert set(RESUME_FIXED) | set(RESUME_MAY_CHANGE) == names  # a new argument needs a decision
    assert {"learning_rate", "seed", "max_steps", "data", "mix_tracks", "per_device_train_batch_size"} <= set(
        RESUME_FIXED)


def test_changed_arguments_are_listed_with_both_values(tmp_path):
    from vit1d.training.pretraining import changed_arguments, check_same_arguments

    saved = {"learning_rate": 1e-3, "seed": 0, "data": "a", "removed_since": 1}
    now = {"learning_rate": 2e-3, "seed": 0, "data": "b", "added_since": 2}
    assert changed_arguments(saved, now) == ["learning_rate: 0.001 -> 0.002", "data: 'a' -> 'b'"]
    state = {"training_seconds": 1.0}
    check_same_arguments({**state, "fixed_arguments": {**now, "data": "b"}}, now, tmp_path)
    with pytest.raises(ValueError, match="(?s)learning_rate: 0.001 -> 0.002.*another --output_dir"):
        check_same_arguments({**state, "fixed_arguments": saved}, now, tmp_path)
    with pytest.raises(ValueError, match="does not record the run's arguments"):
        check_same_arguments(state, now, tmp_path)


def test_tensorboard_tracker_receives_the_logged_scalars(corpus, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.syspath_prepend(str(REPO))
    run(corpus, tmp_path / "tb", "--max_steps", "2", "--save_steps", "0", "--report_to", "tensorboard")
    events = sorted((tmp_path / "tb" / "runs" / "vit1d-pretraining").glob("events.out.tfevents.*"))  # not hparams/
    assert events, "no TensorBoard event file"
    accumulator = EventAccumulator(str(events[0].parent)).Reload()
    for tag in ("loss", "lr", "grad_norm", "retrieval_top1", "alignment", "uniformity", "pairs_per_second"):
        assert [e.step for e in accumulator.Scalars(tag)] == [1, 2], tag
    logged = read_log(tmp_path / "tb")
    assert accumulator.Scalars("loss")[-1].value == pytest.approx(logged[-1]["loss"], rel=1e-6)


def test_the_demo_gives_its_pretraining_values_typed_and_parses_only_the_flags_given_as_text(tmp_path):
    from vit1d.demo import DemoArguments, pretraining_arguments

    demo = DemoArguments(output_dir=str(tmp_path), pretraining_steps=40, batch_size=8,
                         pretraining_args="--gain_db 6 --max_steps 12")
    _, data_args, args = pretraining_arguments(demo, str(tmp_path / "corpus"), tmp_path / "model")
    # The built-in corpus under the named demo preset, which fills only what the demo does not set.
    assert data_args.data is None and data_args.preset == "demo" and data_args.corpus_dir == str(tmp_path / "corpus")
    assert data_args.pairs_per_track == DEMO_OVERRIDES["pairs_per_track"] and data_args.corpus_pieces == 120
    assert args.per_device_train_batch_size == 8 and args.warmup_steps == 4 and args.save_steps == 10
    assert args.output_dir == str(tmp_path / "model") and args.resume_from_checkpoint == "latest"
    assert data_args.gain_db == 6.0 and args.max_steps == 12  # the flags given as text win
    on_audio = DemoArguments(output_dir=str(tmp_path), pretraining_data="music/")
    _, data_args, args = pretraining_arguments(on_audio, "unused", tmp_path / "model")
    assert data_args.data == "music/" and data_args.preset is None and args.per_device_train_batch_size == 16
