"""`physics-llm app` as a real subprocess: headless frames and a screenshot; its config file and errors."""

import os
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image

from app.config import AppConfig
from physics_llm.config import to_dict

ROOT = Path(__file__).parents[1]


def app_cli(*args, module="physics_llm.cli", cmd=("app",)):
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    return subprocess.run([sys.executable, "-m", module, *cmd, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_headless_frames_write_a_screenshot_of_the_window_size(tmp_path):
    shot = tmp_path / "x.png"
    r = app_cli("--frames", "30", "--screenshot", shot, "--size", "1000x640", "--set", f"reports_dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "ran 30 frames of the compare screen" in r.stdout
    with Image.open(shot) as im:
        assert im.size == (1000, 640)
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 20  # panels, objects, text: not a blank window


def test_python_m_app_runs_other_screens(tmp_path):
    shot = tmp_path / "e.png"
    r = app_cli("--frames", "2", "--screen", "editor", "--screenshot", shot, module="app", cmd=())
    assert r.returncode == 0, r.stderr
    assert Image.open(shot).size == (1280, 720)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    r = app_cli("--size", "big", "--frames", "1")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: --size") and "\n" not in r.stderr.strip()
    r = app_cli("--screenshot", tmp_path / "x.png")
    assert r.returncode == 2 and "--frames" in r.stderr
    r = app_cli("--scene", tmp_path / "missing.json", "--frames", "1")
    assert r.returncode == 2 and "no such scene file" in r.stderr


def test_the_config_file_holds_the_defaults():
    assert yaml.safe_load((ROOT / "configs" / "app.yaml").read_text()) == to_dict(AppConfig())
