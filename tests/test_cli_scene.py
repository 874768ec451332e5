"""`physics-llm scene ...` as a real subprocess, including its one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_random_validate_simulate(tmp_path):
    s = tmp_path / "s.json"
    r = cli("scene", "random", "--stage", 3, "--seed", 7, "--out", s)
    assert r.returncode == 0, r.stderr
    r2 = cli("scene", "random", "--ood", "high_gravity", "--seed", 7, "--out", tmp_path / "g.json")
    assert r2.returncode == 0 and json.loads((tmp_path / "g.json").read_text())["gravity"][1] == 2.5 * 981
    assert cli("scene", "validate", s).returncode == 0
    r = cli("scene", "simulate", s, "--out", tmp_path / "s.npz", "--frames", 30)
    assert r.returncode == 0, r.stderr
    z = np.load(tmp_path / "s.npz")
    n = len(json.loads(s.read_text())["objects"])
    assert z["traj"].shape == (30, n, 6) and z["traj"].dtype == np.float32
    assert z["contacts"].shape == (29, n) and z["contacts"].dtype == bool


BAD = {
    "bad_json": "{\"objects\": [",
    "nan": json.dumps({"objects": [{"shape": "circle", "radius": 5, "material": "wood",
                                    "position": [float("nan"), 3]}]}),
    "zero_size": json.dumps({"objects": [{"shape": "box", "size": [0, 5], "material": "wood",
                                          "position": [100, 100]}]}),
    "overlap": json.dumps({"objects": [{"shape": "circle", "radius": 10, "material": "wood", "position": [100, 100]},
                                       {"shape": "circle", "radius": 10, "material": "wood", "position": [105, 100]}]}),
    "outside": json.dumps({"objects": [{"shape": "circle", "radius": 10, "material": "wood", "position": [900, 100]}]}),
    "material": json.dumps({"objects": [{"shape": "circle", "radius": 10, "material": "gold", "position": [100, 100]}]}),
    "unknown_key": json.dumps({"colour": 1, "objects": [{"shape": "circle", "radius": 10, "material": "wood",
                                                         "position": [100, 100]}]}),
    "missing": json.dumps({"objects": [{"shape": "circle", "material": "wood", "position": [100, 100]}]}),
    "too_many": json.dumps({"objects": [{"shape": "circle", "radius": 1, "material": "wood",
                                         "position": [10 + 3 * (i % 250), 10 + 3 * (i // 250)]} for i in range(501)]}),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_scene_is_one_line_exit_2(tmp_path, kind):
    p = tmp_path / f"{kind}.json"
    p.write_text(BAD[kind])
    r = cli("scene", "simulate", p, "--out", tmp_path / "x.npz")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    assert str(p) in lines[0]
    assert not (tmp_path / "x.npz").exists()
