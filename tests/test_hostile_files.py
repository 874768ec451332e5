"""Hostile files (issue 7): a planted train_state.pt never runs code, writers never follow a
symlink planted beside --out, shard paths never leave the dataset, and nothing is written
into a dataset directory. Every case runs the real CLI as a subprocess on real files."""

import builtins
import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hf_tiny import build_tiny_lfm2

ROOT = Path(__file__).parents[1]
TINY_DATA = ROOT / "configs/data/tiny.yaml"
TINY_GPT = ROOT / "configs/train/gpt_tiny.yaml"
TINY_LORA = ROOT / "configs/train/lora_tiny.yaml"


def cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def one_error_line(r, *needles) -> str:
    """The run failed with exit 2 and exactly one stderr line `error: ...` naming every needle."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    """The tiny dataset every hostile-input test copies before it tampers (made once a session;
    test_hostile_cli.py and test_hostile_data.py import this fixture)."""
    root = tmp_path_factory.mktemp("hostile") / "ds"
    r = cli("data", "generate", "--config", TINY_DATA, "--out", root)
    assert r.returncode == 0, r.stderr
    return root


# ---------------------------------------------------------------- 1. code execution


class RunsCode:
    """Unpickling this object creates `marker`: what a planted train_state.pt would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


def plant(path: Path, marker: Path, kind: str) -> None:
    import torch

    state = {"optimizer": {"state": {}, "param_groups": []}, "torch_rng": torch.get_rng_state(),
             "acc": RunsCode(marker)}
    if kind == "torch":
        torch.save(state, path)
    else:  # a raw pickle, not torch's zip format
        path.write_bytes(pickle.dumps(state))


def payload_runs(path: Path, marker: Path) -> bool:
    """Control: the planted file really runs code when unpickled the unsafe way."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except RuntimeError:  # a raw pickle: torch unpickles it (running the code), then finds no magic number
        pass
    ran = marker.exists()
    marker.unlink(missing_ok=True)
    return ran


@pytest.fixture(scope="module")
def gpt_run(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("hostile") / "gpt"
    r = cli("train", "gpt", "--quiet", "--config", TINY_GPT, "--data", data, "--out", run, "--steps", 3)
    assert r.returncode == 0, r.stderr
    return run


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_train_gpt_resume_refuses_a_train_state_that_would_run_code(kind, gpt_run, data, tmp_path):
    state = gpt_run / "ckpt" / "train_state.pt"
    good = state.read_bytes()
    marker = tmp_path / "pwned"
    try:
        plant(state, marker, kind)
        assert payload_runs(state, marker)
        r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume")
        one_error_line(r, "train_state.pt", "refused")
        assert not marker.exists()
    finally:
        state.write_bytes(good)


def test_train_gpt_resume_refuses_a_truncated_train_state(gpt_run, data):
    state = gpt_run / "ckpt" / "train_state.pt"
    good = state.read_bytes()
    try:
        state.write_bytes(good[:len(good) // 2])
        r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume")
        one_error_line(r, "train_state.pt")
    finally:
        state.write_bytes(good)


def test_train_gpt_resume_of_a_genuine_train_state_still_works(gpt_run, data):
    r = cli("train", "gpt", "--quiet", "--data", data, "--out", gpt_run, "--resume", "--steps", 4)
    assert r.returncode == 0, r.stderr
    from physics_llm.models.checkpoint import load_checkpoint

    assert load_checkpoint(gpt_run / "ckpt", with_train_state=True).train_state["sampler"]["next_step"] == 4


def test_train_lora_resume_refuses_a_train_state_that_would_run_code(data, tmp_path):
    base = build_tiny_lfm2(tmp_path / "base")
    run = tmp_path / "lora"
    r = cli("train", "lora", "--quiet", "--config", TINY_LORA, "--base", base, "--data", data, "--out", run,
            "--steps", 1)
    assert r.returncode == 0, r.stderr
    state = run / "adapter" / "train_state.pt"
    good = state.read_bytes()
    marker = tmp_path / "pwned"
    plant(state, marker, "torch")
    assert payload_runs(state, marker)
    r = cli("train", "lora", "--quiet", "--data", data, "--out", run, "--resume")
    one_error_line(r, "train_state.pt", "refused")
    assert not marker.exists()
    state.write_bytes(good)  # the genuine state resumes
    r = cli("train", "lora", "--quiet", "--data", data, "--out", run, "--resume")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- 2. writes outside --out

DEAD_PID = 2**30  # above Linux's pid_max (at most 2**22): no such process
VICTIM = b"precious: must never change\n"


def victim_links(tmp_path: Path, *links: Path) -> Path:
    """A victim file outside --out, and a symlink to it at each of the writers' old fixed temp names."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    for link in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(victim)
    return victim


def no_temps_beside(*outs: Path) -> None:
    for out in outs:
        left = [p.name for p in out.parent.iterdir() if p.name.startswith((f"{out.name}.tmp-", f".{out.name}.tmp-"))]
        assert not left, left


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory) -> Path:
    s = tmp_path_factory.mktemp("hostile") / "s.json"
    r = cli("scene", "random", "--stage", 1, "--seed", 3, "--out", s)
    assert r.returncode == 0, r.stderr
    return s


def test_scene_random_does_not_follow_a_planted_temp_link(tmp_path):
    out = tmp_path / "out" / "s.json"
    victim = victim_links(tmp_path, out.with_name("s.json.tmp"))
    r = cli("scene", "random", "--stage", 2, "--seed", 5, "--out", out)
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == VICTIM
    assert json.loads(out.read_text())["seed"] == 5 and not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~current_umask()  # as open() would make it, not 0600
    no_temps_beside(out)


def test_scene_simulate_out_and_gif_do_not_follow_planted_temp_links(scene_file, tmp_path):
    npz, gif = tmp_path / "out" / "s.npz", tmp_path / "out" / "s.gif"
    victim = victim_links(tmp_path, npz.with_name("s.npz.tmp"), gif.with_name("s.gif.tmp"))
    r = cli("scene", "simulate", scene_file, "--frames", 20, "--out", npz, "--gif", gif)
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == VICTIM
    import numpy as np

    from physics_llm.gifs import read_video

    assert np.load(npz)["traj"].shape[0] == 20
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")  # a GIF (its signature)
    frames = read_video(gif)
    assert frames.ndim == 4 and frames.shape[0] >= 1 and frames.shape[3] == 3 and frames.dtype == np.uint8
    no_temps_beside(npz, gif)


def test_gif_does_not_follow_a_planted_temp_link(scene_file, tmp_path):
    out = tmp_path / "cmp.gif"
    victim = victim_links(tmp_path, out.with_name("cmp.gif.tmp"))
    r = cli("gif", "--model", "baseline:constvel", "--scene", scene_file, "--start", 5, "--horizon", 10, "--out", out)
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == VICTIM and out.read_bytes()[:3] == b"GIF"
    no_temps_beside(out)


def test_eval_cleans_a_killed_runs_temp_dirs_and_leaves_none(scene_file, tmp_path):
    """A killed eval's hidden temp directories (old `.NAME.tmp-PID` and new `.NAME.tmp-PID.RANDOM`) are
    removed by the next eval into the same --out; a finished eval (also with --force) leaves no temp."""
    out = tmp_path / "report"
    victim = victim_links(tmp_path, tmp_path / f".report.tmp-{DEAD_PID}.k2j4h1x0")
    (tmp_path / f".report.tmp-{DEAD_PID}").mkdir()
    (tmp_path / f".report.tmp-{DEAD_PID}" / "metrics.csv").write_text("half")
    (tmp_path / f".report.tmp-{DEAD_PID + 1}.abcdefgh").mkdir()
    scenes = tmp_path / "s.jsonl"
    scenes.write_text(json.dumps(json.loads(scene_file.read_text())) + "\n")
    args = ("eval", "--model", "baseline:constvel", "--scenes", scenes, "--suite", "in_dist", "--windows", 1,
            "--horizon", 2, "--gifs", 0, "--no-baselines", "--set", "plots=false", "--out", out)
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert (out / "metrics.csv").is_file() and victim.read_bytes() == VICTIM
    no_temps_beside(out)
    r = cli(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "report.md").is_file()
    no_temps_beside(out)


def test_train_gpt_config_and_log_do_not_follow_planted_temp_links(data, tmp_path):
    run = tmp_path / "run"
    victim = victim_links(tmp_path, run / "config.yaml.tmp", run / "log.csv.tmp")
    r = cli("train", "gpt", "--quiet", "--config", TINY_GPT, "--data", data, "--out", run, "--steps", 3,
            "--set", "eval_every=1")
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == VICTIM
    assert "n_embd: 32" in (run / "config.yaml").read_text()
    assert [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()] == ["step", "0", "1", "2", "3"]
    no_temps_beside(run / "config.yaml", run / "log.csv")


def test_app_screenshot_does_not_follow_a_planted_temp_link(tmp_path):
    shot = tmp_path / "shot.png"
    victim = victim_links(tmp_path, tmp_path / "shot.tmp.png")
    r = cli("app", "--frames", 2, "--screen", "editor", "--screenshot", shot,
            env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == VICTIM and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_temps_beside(shot)


def test_pid_named_writers_do_not_follow_planted_links_and_clean_dead_temps(data, tmp_path):
    """Writers whose old temp name held a pid (export, shards, metadata): the victim survives links at
    every old name; a dead process's temp beside the target is removed, a live one's kept."""
    from physics_llm import io as pio

    out = tmp_path / "t.jsonl"
    victim = victim_links(tmp_path, *(out.with_name(f"t.jsonl.tmp-{pid}") for pid in (os.getpid(), DEAD_PID)),
                          out.with_name("t.jsonl.tmp"))
    (tmp_path / f".t.jsonl.tmp-{DEAD_PID}").mkdir()  # a killed eval's hidden temp directory, old style
    (tmp_path / f"t.jsonl.tmp-{DEAD_PID}.k2j4h1x0").write_text("half")
    live = tmp_path / f"t.jsonl.tmp-{os.getppid()}.abcdefgh"  # a running writer's: not ours to remove
    live.write_text("in progress")
    from physics_llm.data.export import export_jsonl

    assert export_jsonl(data, out, limit=3) == 3
    assert victim.read_bytes() == VICTIM and len(out.read_text().splitlines()) == 3
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("t.jsonl.", ".t.jsonl.")))
    assert names == sorted([f"t.jsonl.tmp-{os.getpid()}", "t.jsonl.tmp", live.name]), names
    assert (tmp_path / f"t.jsonl.tmp-{os.getpid()}").is_symlink()  # our own pid: left alone, never followed
    # A failing writer leaves nothing; a link planted at the target itself is replaced, not written through.
    target = tmp_path / "u.bin"
    target.symlink_to(victim)
    with pytest.raises(ZeroDivisionError):
        with pio.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            1 / 0
    assert target.is_symlink() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name and "u.bin" in p.name]
    pio.atomic_write_bytes(target, b"new")
    assert victim.read_bytes() == VICTIM and target.read_bytes() == b"new" and not target.is_symlink()


# ---------------------------------------------------------------- 3. path traversal in metadata.json


def tampered(data: Path, tmp_path: Path, how: str) -> tuple[Path, int]:
    """A copy of the dataset whose first test shard sits outside it (a valid shard, same sha256),
    reached through metadata.json (`how`: relative, absolute, ...) or a link. -> (dataset, shard number)."""
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(data, ds)
    meta = json.loads((ds / "metadata.json").read_text())
    k = next(i for i, s in enumerate(meta["shards"]) if s["split"] == "test")
    entry = meta["shards"][k]
    outside = tmp_path / "outside"
    outside.mkdir()
    name = Path(entry["path"]).name
    (ds / entry["path"]).rename(outside / name)
    if how == "link_split":  # the whole test directory is a link to a directory outside
        for f in (ds / "test").iterdir():
            f.rename(outside / f.name)
        (ds / "test").rmdir()
        (ds / "test").symlink_to(outside)
    elif how == "link_file":
        (ds / entry["path"]).symlink_to(outside / name)
    else:
        entry["path"] = {"relative": f"../outside/{name}", "absolute": str(outside / name),
                         "split_relative": f"test/../../outside/{name}", "nested": f"test/../test/{name}",
                         "other_split": f"train/{name}"}[how]
    (ds / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
    return ds, k


COMMANDS = {
    "verify": lambda ds, out: ("data", "verify", ds, "--quiet"),
    "info": lambda ds, out: ("data", "info", ds),
    "export": lambda ds, out: ("data", "export-jsonl", ds, "--split", "test", "--out", out / "t.jsonl"),
    "eval": lambda ds, out: ("eval", "--model", "baseline:constvel", "--data", ds, "--split", "test", "--suite",
                             "in_dist", "--scenes-per-suite", 1, "--windows", 1, "--horizon", 2, "--gifs", 0,
                             "--no-baselines", "--out", out / "report"),
    "merge_part": lambda ds, out: ("data", "merge", "--out", out / "merged", ds),
    "merge_into": lambda ds, out: ("data", "merge", "--out", ds, out / "part"),
    "generate": lambda ds, out: ("data", "generate", "--config", TINY_DATA, "--out", ds, "--quiet"),
}


@pytest.mark.parametrize("how", ["relative", "absolute", "split_relative", "nested", "other_split"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_shard_path_outside_its_split_directory_is_refused(command, how, data, tmp_path):
    ds, k = tampered(data, tmp_path, how)
    out = tmp_path / "out"
    out.mkdir()
    if command == "merge_into":
        r = cli("data", "generate", "--config", TINY_DATA, "--out", out / "part", "--shard", "0/2", "--quiet")
        assert r.returncode == 0, r.stderr
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "part" not in p.parts)
    r = cli(*COMMANDS[command](ds, out))
    one_error_line(r, ds / "metadata.json", f"shards[{k}].path")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "part" not in p.parts) == before


@pytest.mark.parametrize("how", ["link_split", "link_file"])
@pytest.mark.parametrize("command", ["verify", "export", "merge_part"])
def test_a_shard_reached_through_a_link_out_of_the_dataset_is_refused(command, how, data, tmp_path):
    ds, k = tampered(data, tmp_path, how)
    out = tmp_path / "out"
    out.mkdir()
    r = cli(*COMMANDS[command](ds, out))
    one_error_line(r, ds / "metadata.json", f"shards[{k}].path", "outside the dataset")
    assert not list(out.iterdir())


@pytest.mark.parametrize("field, value", [("shards", None), ("shards", {"a": 1}), ("shards", [3]),
                                          ("split", "holdout"), ("scenes", -1), ("scenes", "2"), ("path", 7)])
def test_malformed_shard_entries_are_one_line_naming_the_field(field, value, data, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(data, ds)
    meta = json.loads((ds / "metadata.json").read_text())
    if field == "shards":
        meta["shards"] = value
    else:
        meta["shards"][1][field] = value
    (ds / "metadata.json").write_text(json.dumps(meta))
    r = cli("data", "verify", ds, "--quiet")
    one_error_line(r, ds / "metadata.json", "shards" if field == "shards" else f"shards[1]")
    assert (ds / "metadata.json").read_text() == json.dumps(meta)


def test_an_untampered_dataset_still_verifies_and_exports(data, tmp_path):
    r = cli("data", "verify", data, "--quiet")
    assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stderr
    r = cli("data", "export-jsonl", data, "--split", "test", "--out", tmp_path / "t.jsonl")
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == json.loads(
        (data / "metadata.json").read_text())["counts"]["test"]


# ---------------------------------------------------------------- 6. nothing is written into a dataset


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


INTO_DATASET = {
    "export_metadata": lambda ds: ("data", "export-jsonl", ds, "--out", ds / "metadata.json"),
    "export_shard": lambda ds: ("data", "export-jsonl", ds, "--split", "train", "--out", ds / "train/shard-00000.shard"),
    "export_new_file": lambda ds: ("data", "export-jsonl", ds, "--out", ds / "train" / "t.jsonl"),
    "export_via_link": lambda ds: ("data", "export-jsonl", ds, "--out", ds.parent / "link" / "metadata.json"),
    "simulate_out": lambda ds: ("scene", "simulate", ds.parent / "s.json", "--frames", 5, "--out", ds / "metadata.json"),
    "simulate_gif": lambda ds: ("scene", "simulate", ds.parent / "s.json", "--frames", 5, "--gif", ds / "val/a.gif"),
    "random": lambda ds: ("scene", "random", "--seed", 1, "--out", ds / "test/shard-00000.shard"),
    "gif": lambda ds: ("gif", "--model", "baseline:constvel", "--scene", ds.parent / "s.json", "--horizon", 3,
                       "--out", ds / "metadata.json"),
    "train": lambda ds: ("train", "gpt", "--quiet", "--config", TINY_GPT, "--data", ds, "--out", ds / "run",
                         "--steps", 1),
    "screenshot": lambda ds: ("app", "--frames", 1, "--screen", "editor", "--screenshot", ds / "shot.png"),
    "eval": lambda ds: ("eval", "--model", "baseline:constvel", "--data", ds, "--split", "test", "--suite", "in_dist",
                        "--scenes-per-suite", 1, "--windows", 1, "--horizon", 2, "--gifs", 0, "--no-baselines",
                        "--out", ds / "report"),
}


@pytest.mark.parametrize("case", sorted(INTO_DATASET))
def test_no_command_writes_into_a_dataset_directory(case, data, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(data, ds)
    (tmp_path / "link").symlink_to(ds)
    r = cli("scene", "random", "--stage", 1, "--seed", 2, "--out", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    before = snapshot(ds)
    r = cli(*INTO_DATASET[case](ds), env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    line = one_error_line(r, f"inside the dataset directory {ds}")
    assert line.startswith("error: --"), line  # names the flag, and comes before any work
    assert snapshot(ds) == before
    assert cli("data", "verify", ds, "--quiet").returncode == 0
