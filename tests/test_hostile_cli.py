"""Hostile input through the real CLI, one subprocess per case (issue 7 findings 7 and 8): each ends
with exit code 2 and exactly one stderr line `error: ...` (no traceback, no usage block), before
any work, and writes nothing at --out. Limits (finding 7) are refused before the work starts."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from physics_llm.models.checkpoint import weights_file
from test_hostile_files import ROOT, TINY_DATA, cli, one_error_line
from test_hostile_files import data  # noqa: F401  the shared dataset fixture (made once a session)

SHIPPED = ROOT / "assets/checkpoints/gpt-small"
GOOD_SCENE = {"objects": [{"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 100]},
                          {"shape": "box", "size": [30, 20], "material": "wood", "position": [300, 300]}],
              "frames": 20}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Every hostile file the cases name, made once: {name: path}."""
    d = tmp_path_factory.mktemp("hostile_cli")
    f = {"dir": d / "a_directory", "scene": d / "scene.json", "bin": d / "binary.json", "deep": d / "deep.json",
         "deep_yaml": d / "deep.yaml", "bigint": d / "bigint.json", "huge": d / "huge.json", "nul": d / "nul.json",
         "tiny_radius": d / "tiny_radius.json", "python_yaml": d / "python.yaml", "bad_yaml": d / "bad.yaml",
         "frames_yaml": d / "frames.yaml", "a_file": d / "a_file", "deep_jsonl": d / "deep.jsonl",
         "bin_jsonl": d / "binary.jsonl", "big_tags": d / "big_tags.json", "seed_neg": d / "seed.json"}
    f["dir"].mkdir()
    f["scene"].write_text(json.dumps(GOOD_SCENE))
    f["bin"].write_bytes(bytes(range(128, 256)) * 40)
    f["deep"].write_text("[" * 100_000 + "]" * 100_000)
    f["deep_jsonl"].write_text("[" * 100_000 + "]" * 100_000 + "\n")
    f["bin_jsonl"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    f["deep_yaml"].write_text("scenes: " + "[" * 100_000 + "]" * 100_000 + "\n")
    f["bigint"].write_text(json.dumps(GOOD_SCENE)[:-1] + ', "width": ' + "9" * 5000 + "}")
    with open(f["huge"], "wb") as h:  # 17 MiB: over the scene file limit (a 200 MB tags string is refused the same way)
        h.write(b'{"tags": {"x": "')
        h.truncate(17 << 20)
    f["nul"].write_bytes(b"\0" * 64)
    small = json.loads(json.dumps(GOOD_SCENE))
    small["objects"][0]["radius"] = 1e-300
    f["tiny_radius"].write_text(json.dumps(small))
    tags = json.loads(json.dumps(GOOD_SCENE))
    tags["tags"] = {"note": "x" * 100_000}
    f["big_tags"].write_text(json.dumps(tags))
    neg = json.loads(json.dumps(GOOD_SCENE))
    neg["seed"] = -1
    f["seed_neg"].write_text(json.dumps(neg))
    f["python_yaml"].write_text("scenes: !!python/object/apply:os.system ['echo pwned']\n")
    f["bad_yaml"].write_text("scenes: [1, 2\n  frames: 3\n")
    f["frames_yaml"].write_text(TINY_DATA.read_text().replace("frames: 30", "frames: 1000000000"))
    f["a_file"].write_text("not a directory\n")
    return f


def broken_dataset(data: Path, tmp: Path, how: str) -> Path:
    ds = tmp / f"ds_{how}"
    shutil.copytree(data, ds)
    meta_p = ds / "metadata.json"
    meta = json.loads(meta_p.read_text())
    shard = ds / "test/shard-00000.shard"
    if how == "no_shards":
        del meta["shards"]
    elif how == "no_counts":
        del meta["counts"]
    elif how == "binary_meta":
        meta_p.write_bytes(b'{"format": "\xff\xfe"}')
        return ds
    elif how == "deep_meta":
        meta_p.write_text("[" * 100_000 + "]" * 100_000)
        return ds
    elif how == "truncated":
        shard.write_bytes(shard.read_bytes()[:300])
    elif how == "remagicked":
        shard.write_bytes(b"PLSHARD9" + shard.read_bytes()[8:])
    elif how == "swapped":
        other = ds / "test/shard-00001.shard"
        a, b = shard.read_bytes(), other.read_bytes()
        shard.write_bytes(b)
        other.write_bytes(a)
    elif how == "shard_is_dir":
        shard.unlink()
        shard.mkdir()
    meta_p.write_text(json.dumps(meta, indent=1))
    return ds


def broken_checkpoint(tmp: Path, how: str) -> Path:
    ck = tmp / f"ck_{how}"
    shutil.copytree(SHIPPED, ck, ignore=shutil.ignore_patterns("eval"))
    cfg = json.loads((ck / "gpt_config.json").read_text())
    if how == "n_head":
        cfg["n_head"] = 3
    elif how == "string":
        cfg["n_embd"] = "128"
    elif how == "binary_tokenizer":
        (ck / "tokenizer.json").write_bytes(bytes(range(256)))
    elif how == "deep_meta":
        (ck / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    elif how == "garbage_model":
        weights_file(ck).write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    (ck / "gpt_config.json").write_text(json.dumps(cfg))
    return ck


EVAL = ("eval", "--model", "baseline:constvel", "--suite", "in_dist", "--scenes-per-suite", 1, "--windows", 1,
        "--horizon", 2, "--gifs", 0, "--no-baselines")


def eval_on(ds, out):
    return (*EVAL, "--data", ds, "--split", "test", "--out", out)


# name -> (f, d, t, out) -> argv; f: files, d: the dataset, t: a scratch directory, out: where nothing may appear
CASES = {
    # scene and scenes files that are not scenes
    "validate_directory": lambda f, d, t, o: ("scene", "validate", f["dir"]),
    "validate_binary": lambda f, d, t, o: ("scene", "validate", f["bin"]),
    "validate_deep_json": lambda f, d, t, o: ("scene", "validate", f["deep"]),
    "validate_huge_int": lambda f, d, t, o: ("scene", "validate", f["bigint"]),
    "validate_17_mib": lambda f, d, t, o: ("scene", "validate", f["huge"]),
    "validate_nul_bytes": lambda f, d, t, o: ("scene", "validate", f["nul"]),
    "validate_radius_1e-300": lambda f, d, t, o: ("scene", "validate", f["tiny_radius"]),
    "validate_big_tags": lambda f, d, t, o: ("scene", "validate", f["big_tags"]),
    "validate_negative_seed": lambda f, d, t, o: ("scene", "validate", f["seed_neg"]),
    "validate_jsonl_deep": lambda f, d, t, o: ("scene", "validate", f["deep_jsonl"]),
    "validate_jsonl_binary": lambda f, d, t, o: ("scene", "validate", f["bin_jsonl"]),
    "validate_jsonl_directory": lambda f, d, t, o: ("scene", "validate", t / "x.jsonl"),
    "simulate_deep": lambda f, d, t, o: ("scene", "simulate", f["deep"], "--out", o / "s.npz"),
    "simulate_binary": lambda f, d, t, o: ("scene", "simulate", f["bin"], "--gif", o / "s.gif"),
    # outputs that cannot be written
    "simulate_out_is_directory": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--out", f["dir"]),
    "simulate_out_under_a_file": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--out", f["a_file"] / "s.npz"),
    "simulate_gif_under_a_file": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--gif",
                                                     f["a_file"] / "x" / "s.gif"),
    "simulate_out_a_device": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--out", "/dev/null"),
    "simulate_out_name_too_long": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--out", o / ("n" * 300)),
    "random_out_empty": lambda f, d, t, o: ("scene", "random", "--seed", 3, "--out", ""),
    "random_out_directory": lambda f, d, t, o: ("scene", "random", "--seed", 3, "--out", f["dir"]),
    "random_seed_-1": lambda f, d, t, o: ("scene", "random", "--seed", -1, "--out", o / "s.json"),
    "random_seed_2**64": lambda f, d, t, o: ("scene", "random", "--seed", 2**64, "--out", o / "s.json"),
    "gif_out_directory": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["scene"],
                                             "--horizon", 3, "--out", f["dir"]),
    "gif_out_under_a_file": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["scene"],
                                                "--horizon", 3, "--out", f["a_file"] / "c.gif"),
    "gif_scene_directory": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["dir"],
                                               "--out", o / "c.gif"),
    "gif_scene_binary": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["bin"],
                                            "--out", o / "c.gif"),
    "eval_out_under_a_file": lambda f, d, t, o: (*EVAL, "--scenes", f["scene"], "--out", f["a_file"] / "r"),
    "export_out_directory": lambda f, d, t, o: ("data", "export-jsonl", d, "--out", f["dir"]),
    "generate_out_under_a_file": lambda f, d, t, o: ("data", "generate", "--config", TINY_DATA, "--out",
                                                     f["a_file"] / "ds", "--quiet"),
    # configs that are not configs
    "generate_config_directory": lambda f, d, t, o: ("data", "generate", "--config", f["dir"], "--out", o / "ds"),
    "generate_config_binary": lambda f, d, t, o: ("data", "generate", "--config", f["bin"], "--out", o / "ds"),
    "generate_config_deep": lambda f, d, t, o: ("data", "generate", "--config", f["deep_yaml"], "--out", o / "ds"),
    "generate_config_python_tag": lambda f, d, t, o: ("data", "generate", "--config", f["python_yaml"],
                                                      "--out", o / "ds"),
    "generate_config_bad_yaml": lambda f, d, t, o: ("data", "generate", "--config", f["bad_yaml"], "--out", o / "ds"),
    "eval_config_directory": lambda f, d, t, o: (*EVAL, "--config", f["dir"], "--scenes", f["scene"], "--out", o / "r"),
    "eval_scenes_directory": lambda f, d, t, o: (*EVAL, "--scenes", f["dir"], "--out", o / "r"),
    "eval_scenes_binary": lambda f, d, t, o: (*EVAL, "--scenes", f["bin_jsonl"], "--out", o / "r"),
    "eval_scenes_deep": lambda f, d, t, o: (*EVAL, "--scenes", f["deep_jsonl"], "--out", o / "r"),
    "eval_seed_-1": lambda f, d, t, o: (*EVAL, "--scenes", f["scene"], "--seed", -1, "--out", o / "r"),
    "argparse_not_a_number": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["scene"],
                                                 "--horizon", "many", "--out", o / "c.gif"),
    # limits (finding 7): refused before the work starts
    "gif_horizon_100000": lambda f, d, t, o: ("gif", "--model", "baseline:constvel", "--scene", f["scene"],
                                              "--horizon", 100_000, "--out", o / "c.gif"),
    "simulate_frames_1e9": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--frames", 10**9, "--out", o / "s.npz"),
    "simulate_gif_5000_frames": lambda f, d, t, o: ("scene", "simulate", f["scene"], "--frames", 5000,
                                                    "--gif", o / "s.gif"),
    "generate_frames_1e9_config": lambda f, d, t, o: ("data", "generate", "--config", f["frames_yaml"], "--out", o / "ds"),
    "generate_frames_1e9_set": lambda f, d, t, o: ("data", "generate", "--config", TINY_DATA, "--set",
                                                   "frames=1000000000", "--out", o / "ds"),
    "generate_scenes_1e11": lambda f, d, t, o: ("data", "generate", "--config", TINY_DATA, "--scenes", 10**11,
                                                "--out", o / "ds"),
    "generate_workers_100000": lambda f, d, t, o: ("data", "generate", "--config", TINY_DATA, "--workers", 100_000,
                                                   "--out", o / "ds"),
    "eval_scenes_per_suite_1e9": lambda f, d, t, o: ("eval", "--model", "baseline:constvel", "--suite", "ood:count_low",
                                                     "--scenes-per-suite", 10**9, "--out", o / "r"),
    "eval_horizon_100000_with_gifs": lambda f, d, t, o: ("eval", "--model", "baseline:constvel", "--scenes", f["scene"],
                                                         "--horizon", 100_000, "--gifs", 1, "--out", o / "r"),
    # damaged datasets and checkpoints
    **{f"eval_dataset_{how}": (lambda how: lambda f, d, t, o: eval_on(broken_dataset(d, t, how), o / "r"))(how)
       for how in ("no_shards", "no_counts", "binary_meta", "deep_meta", "truncated", "remagicked", "swapped",
                   "shard_is_dir")},
    **{f"export_dataset_{how}": (lambda how: lambda f, d, t, o: ("data", "export-jsonl", broken_dataset(d, t, how),
                                                                 "--split", "test", "--out", o / "t.jsonl"))(how)
       for how in ("truncated", "remagicked", "swapped")},
    "info_dataset_no_counts": lambda f, d, t, o: ("data", "info", broken_dataset(d, t, "no_counts")),
    **{f"gif_checkpoint_{how}": (lambda how: lambda f, d, t, o: ("gif", "--model", f"gpt:{broken_checkpoint(t, how)}",
                                                                 "--scene", f["scene"], "--horizon", 1,
                                                                 "--out", o / "c.gif"))(how)
       for how in ("n_head", "string", "binary_tokenizer", "deep_meta", "garbage_model")},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_is_one_error_line_and_exit_2(case, files, data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "x.jsonl").mkdir()
    argv = CASES[case](files, data, scratch, out)
    t0 = time.perf_counter()
    r = cli(*argv, timeout=120)
    one_error_line(r)
    assert not list(out.iterdir()), list(out.iterdir())  # nothing written, not even a temp file
    if "1e9" in case or "1e11" in case or "100000" in case:
        assert time.perf_counter() - t0 < 60  # refused up front, not after the work


@pytest.mark.slow  # generates 2,000 tiny scenes twice: ~1 min on 2 idle cores
def test_ctrl_c_on_generate_with_workers_is_one_line(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C does) during `data generate --workers 2`: the
    parent says `interrupted` and exits 130; the workers print no tracebacks; a rerun finishes."""
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "physics_llm.cli", "data", "generate", "--config", TINY_DATA, "--set",
           "scenes=2000", "--set", "frames=200", "--out", out, "--workers", 2, "--quiet"]  # 400 finished first once
    p = subprocess.Popen(list(map(str, cmd)), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("*/shard-*.shard")):
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err, (p.returncode, err)
    assert err.strip().splitlines()[-1] == "interrupted"
    r = cli("data", "generate", "--config", TINY_DATA, "--set", "scenes=2000", "--set", "frames=200", "--out", out,
            "--workers", 2, "--quiet", timeout=600)
    assert r.returncode == 0, r.stderr


def test_a_full_disk_is_one_line_and_leaves_no_temp(tmp_path, files):
    """Writes that fail part way (RLIMIT_FSIZE: the kernel refuses to grow a file, as on a full disk)."""
    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # Python ignores SIGXFSZ: write() fails EFBIG

    out = tmp_path / "ds"
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "data", "generate", "--config", str(TINY_DATA),
                        "--set", "frames=200", "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, preexec_fn=small_files, env={**os.environ, "OMP_NUM_THREADS": "1"})
    one_error_line(r, "File too large")
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    npz = tmp_path / "s.npz"
    big = json.loads(json.dumps(GOOD_SCENE))
    big["frames"] = 20_000  # bouncing and spinning: about 100 KB of npz
    big["objects"][0]["velocity"], big["objects"][1]["angular_velocity"] = [300, -200], 2.0
    (tmp_path / "big.json").write_text(json.dumps(big))
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "scene", "simulate", str(tmp_path / "big.json"),
                        "--out", str(npz)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       preexec_fn=small_files)
    one_error_line(r, "File too large")
    assert not npz.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
