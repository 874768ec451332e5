"""Fixtures shared by several test files."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def headless_sdl():
    """SDL's dummy video and audio drivers for the whole session (undone at its end), set before any
    fixture or test opens a pygame display: no window and no sound device in tests, and subprocesses
    the tests start (the app, jobs) inherit them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDL_VIDEODRIVER", "dummy")
        mp.setenv("SDL_AUDIODRIVER", "dummy")
        yield


@pytest.fixture(scope="session")
def modules_after():
    """modules_after(code) -> the names in sys.modules after running `code` in a fresh interpreter
    (from the repository root), so what other tests imported cannot hide an import."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    def run(code: str) -> set[str]:
        probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1])
        assert r.returncode == 0, r.stderr
        return set(json.loads(r.stdout.strip().splitlines()[-1]))
    return run


@pytest.fixture(scope="module")
def one_thread():
    """Tiny torch models: a second CPU thread costs more than it gives, and far more when another
    process holds the other core (measured: a test file went from 26 s to 3 s with 1 thread)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def app_shared(tmp_path):
    """(Shared, screen) for one app screen under SDL's dummy driver, every app directory in tmp_path."""
    from pathlib import Path

    import pygame  # SDL's dummy driver: headless_sdl

    from app.config import AppConfig
    from app.control import body_rect
    from app.jobs import JobRunner
    from app.states.base import Shared
    from app.widgets import Theme

    size = (1280, 720)
    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode(size)
    cfg = AppConfig(model_dirs=[str(tmp_path / "models")], scenes_dir=str(tmp_path / "scenes"),
                    jobs_dir=str(tmp_path / "jobs"), reports_dir=str(tmp_path / "reports"))
    root = Path(__file__).parents[1]
    yield Shared(cfg=cfg, theme=Theme(), jobs=JobRunner(cwd=str(root)), body=body_rect(*size)), screen
    pygame.quit()
