"""The explorer (vit1d.explorer, app.py): the figures of a track, readable messages for bad files, and the page in a
real browser (Debian's chromium, headless, driven by selenium): upload a rendered file, wait for the figures, check
they are drawn, keep a screenshot."""

import io
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import music_like

from vit1d.explorer import FIGURES, RELEASED, build_app, draw, explore_track, read_track, rendered_examples
from vit1d.loading import load_encoder

RATE = 16000
BROWSER_INSTALL = ("The browser test needs Debian's chromium and chromium-driver: `apt-get install chromium "
                   "chromium-driver` as root (`make install` does it where apt is available).")


def not_blank(png) -> bool:
    """A drawn figure: several colours, not one flat fill."""
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png) if isinstance(png, bytes) else png)
    return pixels.ndim == 3 and pixels.shape[0] > 50 and float(pixels[..., :3].std()) > 0.02


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return rendered_examples(tmp_path_factory.mktemp("examples"), pieces=3, seconds=12.0)


def test_rendered_examples_carry_their_labels(examples):
    assert len(examples) == 3
    for example in examples.values():
        assert Path(example["path"]).is_file() and len(example["labels"]["beats"]) > 5
        assert len(example["labels"]["chord_changes"]) > 2 and example["labels"]["onsets"] is not None
    assert max(len(example["labels"]["onsets"]) for example in examples.values()) > 5


def test_a_track_gives_every_figure(tmp_path, examples, capsys):
    model, extractor, _ = load_encoder(RELEASED)
    name, example = next(iter(examples.items()))
    waveform = read_track(example["path"], RATE)
    stages = []
    exploration = explore_track(model, extractor, waveform, name, example["labels"], window_start=5.0,
                                progress=lambda fraction, desc: stages.append(desc))
    assert len(stages) >= 4 and exploration.window_start == 5.0
    bars = capsys.readouterr().err  # the windowed stages' bars, which gr.Progress(track_tqdm=True) shows
    assert "attention: 100%" in bars and "embedding: 100%" in bars
    assert exploration.attentions.shape[:2] == (12, model.config.num_attention_heads)
    assert exploration.attention_times[0] == pytest.approx(5.0)
    assert set(exploration.ssms) == {3, 6, 9, 12} and exploration.window_similarity.shape == (3, 3)
    paths = draw(exploration, tmp_path, layer=6, head=1, mode="column_mean")
    assert set(paths) == set(FIGURES)
    for figure, path in paths.items():
        assert not_blank(path), figure


def test_long_tracks_are_windowed_and_capped(monkeypatch):
    import vit1d.explorer as explorer

    model, extractor, _ = load_encoder(RELEASED)
    monkeypatch.setattr(explorer, "MAX_SECONDS", 10.0)
    exploration = explore_track(model, extractor, music_like(14.0, seed=3), "long")
    assert exploration.seconds == pytest.approx(10.0) and "first 10 s of 14 s" in exploration.notes[0]
    assert len(exploration.window_times) == 3 and exploration.token_times[-1] < 10.0


def test_bad_files_get_a_readable_message(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(ValueError, match="Could not read notes.wav"):
        read_track(str(text), RATE)
    import soundfile as sf

    short = tmp_path / "click.wav"
    sf.write(short, np.zeros(100, np.float32), RATE)
    with pytest.raises(ValueError, match="at least 0.1 s"):
        read_track(str(short), RATE)


def test_missing_gradio_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    with pytest.raises(ImportError, match=r"vit1d\[explorer\]"):
        build_app(RELEASED, examples={})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_page_in_a_real_browser(tmp_path, examples):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail(BROWSER_INSTALL)
    os.environ["SE_OFFLINE"] = "true"  # selenium must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rendered = tmp_path / "rendered piece.flac"
    shutil.copy(next(iter(examples.values()))["path"], rendered)
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + bytes(200))

    port = free_port()
    app = build_app(RELEASED, examples=examples)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,3000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 180, poll_frequency=0.5)

        def upload_and_analyse(path: Path):
            field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type=file]"))
            field.send_keys(str(path))
            # The page lists the file once uploaded (its name and extension in separate elements).
            wait.until(lambda d: path.stem in d.find_element(By.ID, "upload").text)
            driver.find_element(By.ID, "analyse").click()

        # A damaged file: a message in the page, no traceback, no figure.
        upload_and_analyse(broken)
        status = wait.until(lambda d: "Cannot analyse" in d.find_element(By.ID, "status").text
                            and d.find_element(By.ID, "status"))
        assert "broken.flac" in status.text and "Traceback" not in driver.page_source

        # A rendered file, in a fresh page: every figure arrives and is drawn.
        driver.get(f"http://127.0.0.1:{port}/")
        upload_and_analyse(rendered)
        wait.until(lambda d: "tokens" in d.find_element(By.ID, "status").text)

        def loaded_images(d):
            found = {}
            for figure in FIGURES:
                images = d.find_elements(By.CSS_SELECTOR, f"#fig-{figure} img")
                if not images or not d.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                                      images[0]):
                    return False
                found[figure] = images[0]
            return found

        images = wait.until(loaded_images)
        for figure, image in images.items():
            driver.execute_script("arguments[0].scrollIntoView()", image)
            time.sleep(0.2)
            assert not_blank(image.screenshot_as_png), figure
        assert "rendered piece.flac" in driver.find_element(By.ID, "status").text
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(tmp_path / "explorer.png"))
        if os.environ.get("VIT1D_EXPLORER_SCREENSHOT"):
            shutil.copy(tmp_path / "explorer.png", os.environ["VIT1D_EXPLORER_SCREENSHOT"])
        assert not_blank(str(tmp_path / "explorer.png"))
    finally:
        driver.quit()
        app.close()


def test_a_space_of_the_explorer_runs_from_its_own_folder(tmp_path):
    import subprocess

    from vit1d.explorer import write_space

    space = write_space(tmp_path / "space")
    header = (space / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in header and "app_file: app.py" in header
    assert (space / "requirements.txt").read_text().strip() == ".[explorer]"
    assert (space / "pretrained" / RELEASED.name / "model.safetensors").is_file()
    # The Space's own copy of the package builds the page with the Space's own checkpoint.
    code = ("import vit1d.explorer as e; app = e.build_app(examples={}); "
            "print(e.__file__); print(e.RELEASED); print(type(app).__name__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=space, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(space)})
    assert result.returncode == 0, result.stderr[-2000:]
    module, checkpoint, kind = result.stdout.strip().splitlines()[-3:]
    assert module.startswith(str(space)) and checkpoint.startswith(str(space)) and kind == "Blocks"
