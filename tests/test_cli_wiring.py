"""The command groups: one list (physics_llm/cli.py COMMAND_GROUPS), imported lazily, no import cycle."""

import subprocess
import sys
from pathlib import Path

from physics_llm.cli import COMMAND_GROUPS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_the_list_is_every_command_in_help_order():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMAND_GROUPS)
    for command, module in COMMAND_GROUPS.items():
        only = next(a for a in build_parser(command)._actions if a.dest == "command")
        assert command in only.choices and module in sys.modules


def test_a_command_imports_only_its_own_group(tmp_path, modules_after):
    mods = modules_after(f"from physics_llm.cli import main\nassert main(['scene', 'random', '--seed', '3', "
                         f"'--out', {str(tmp_path / 's.json')!r}]) == 0")
    assert not {"training.cli", "app.cli", "physics_llm.data.cli", "physics_llm.eval.cli"} & mods


def test_the_groups_do_not_import_the_command_list_back(modules_after):
    mods = modules_after("import training.cli, app.cli, physics_llm.cli_scene, physics_llm.data.cli, "
                         "physics_llm.eval.cli")
    assert "physics_llm.cli" not in mods


def test_python_m_app_is_physics_llm_app():
    a = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True, cwd=ROOT)
    b = subprocess.run([sys.executable, "-m", "physics_llm.cli", "app", "--help"], capture_output=True, text=True,
                       cwd=ROOT)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and "usage: physics-llm app" in a.stdout
