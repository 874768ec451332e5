"""Stuck after a kill, and cheap checks first (issue 7 finding 9 and the checks it asked for).

A kill leaves a run or dataset directory that the rerun (or --resume) continues, never one that both
refuse: the kills are real (SIGKILL, at chosen points through io.py's PHYSICS_LLM_FAULT hook, or
of a real process mid-run), and resumed runs stay bit-exact. Bad input to `train gpt`, `train lora`,
`eval` and `app` (an --out under a file, a run of another config, a missing base, a bad `hf:` spec)
is one line and exit 2 before any slow step. The CLI runs as a subprocess on real files; the slow
tests train real tiny models.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_hostile_files import DEAD_PID, ROOT, TINY_DATA, TINY_GPT, TINY_LORA, cli, data, one_error_line  # noqa: F401

FAULT = "PHYSICS_LLM_FAULT"


def tree(root: Path) -> dict:
    """{relative path: bytes} of every file under root."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- io.swap_dir: every kill point

SWAPPER = """
import os, signal, sys
from pathlib import Path
from physics_llm.io import swap_dir
target, half = Path(sys.argv[1]), sys.argv[2] == "half"
for v in ("1", "2"):
    def fill(tmp, v=v):
        (tmp / "a").write_text(v)
        if half and v == "2":
            os.kill(os.getpid(), signal.SIGKILL)  # killed while the temp is half written
        (tmp / "b").write_text(v)  # last: a temp holding b is whole
    swap_dir(target, fill)
"""


def complete(d: Path) -> bool:
    return (d / "a").is_file() and (d / "b").is_file()


@pytest.mark.parametrize("fault, mode, found, after", [
    ("swap-filled:d:1", "", "tmp", "1"),  # the first swap, whole but never renamed: it is the only copy
    ("swap-filled:d:2", "", "d", "1"),  # the second: the old one stays, the unrenamed temp goes
    ("swap-moved:d", "", "tmp", "2"),  # between the renames: the new copy is finished, the old one removed
    ("", "half", "d", "1"),  # killed while writing the second: the first stays
])
def test_swap_dir_is_recovered_after_a_kill_at_every_point(tmp_path, fault, mode, found, after):
    from physics_llm.io import recover_dir, swapped_dir

    target = tmp_path / "d"
    r = subprocess.run([sys.executable, "-c", SWAPPER, str(target), mode or "whole"], cwd=ROOT,
                       env={**os.environ, FAULT: fault}, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr
    src = swapped_dir(target, complete)
    assert src == target if found == "d" else src.name.startswith("d.tmp-"), sorted(os.listdir(tmp_path))
    assert recover_dir(target, complete) == target
    assert os.listdir(tmp_path) == ["d"] and (target / "a").read_text() == (target / "b").read_text() == after


def test_swap_parts_of_running_processes_and_incomplete_ones_are_never_used(tmp_path):
    from physics_llm.io import recover_dir, swapped_dir

    target = tmp_path / "d"
    live = tmp_path / "d.tmp-1"  # pid 1 runs: another process may be writing it now
    live.mkdir()
    for f in "ab":
        (live / f).write_text("x")
    half = tmp_path / f"d.tmp-{DEAD_PID}"
    half.mkdir()
    (half / "a").write_text("x")
    (tmp_path / f"d.old-{DEAD_PID}").symlink_to(live)  # a link is never a part
    assert swapped_dir(target, complete) is None
    assert recover_dir(target, complete) is None
    assert sorted(os.listdir(tmp_path)) == ["d.old-" + str(DEAD_PID), "d.tmp-1"] and complete(live)


# ---------------------------------------------------------------- data generate killed in its first metadata write


def test_generate_killed_in_its_first_metadata_write_is_rerun_to_the_same_bytes(data, tmp_path):
    out = tmp_path / "ds"
    r = cli("data", "generate", "--config", TINY_DATA, "--out", out, env={FAULT: "write:metadata.json"})
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert [p.name.partition(".tmp-")[0] for p in out.iterdir()] == ["metadata.json"]  # the temp, never renamed
    r = cli("data", "generate", "--config", TINY_DATA, "--out", out)
    assert r.returncode == 0, r.stderr
    assert tree(out) == tree(data)


def test_generate_still_refuses_a_directory_with_anything_else(tmp_path):
    from physics_llm.config import load_config
    from physics_llm.data.config import DataConfig
    from physics_llm.data.generate import generate_dataset
    from physics_llm.errors import UserError

    cfg = load_config(DataConfig, TINY_DATA)
    for name in ("notes.txt", "metadata.json.tmp-1.x"):  # a user's file; the temp of a running process
        out = tmp_path / name.replace(".", "_")
        out.mkdir()
        (out / name).write_text("keep")
        (out / f"metadata.json.tmp-{DEAD_PID}.abc").write_text("{")
        with pytest.raises(UserError, match="not empty and holds no dataset"):
            generate_dataset(cfg, out, progress=False)
        assert (out / name).read_text() == "keep" and len(os.listdir(out)) == 2


# ---------------------------------------------------------------- train gpt: the debris of a killed run


@pytest.fixture(scope="module")
def gpt_cfg():
    from physics_llm.config import load_config
    from training.gpt_config import TrainGPTConfig

    return load_config(TrainGPTConfig, TINY_GPT)


def killed_run(run: Path, cfg, ckpt: str | None, step: int = 3) -> Path:
    """What `train gpt` killed at its first checkpoint leaves: config.yaml, log.csv with the step-0 row, and
    `ckpt` (e.g. ckpt.tmp-PID): a whole checkpoint of `step` saved by save_checkpoint, None for none."""
    import torch

    from physics_llm.config import save_config
    from physics_llm.models.checkpoint import save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer

    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    (run / "log.csv").write_text("step,val_loss\n0,3.86\n")
    if ckpt:
        tok = DigitTokenizer()
        gcfg = GPTConfig(vocab_size=tok.vocab_size, **cfg.model_kwargs())
        state = {"optimizer": {"state": {}, "param_groups": []}, "torch_rng": torch.get_rng_state(), "acc": {}}
        save_checkpoint(run / "staging", GPT(gcfg), gcfg, cfg.text_format(), tok, step=step, train_state=state)
        (run / "staging").rename(run / ckpt)
    return run


def test_a_whole_checkpoint_left_unrenamed_is_resumed_and_never_overwritten(gpt_cfg, tmp_path):
    from physics_llm.errors import UserError
    from physics_llm.models.checkpoint import load_checkpoint
    from training import loop
    from training.train_gpt import CHECKPOINTS, check_out, complete_checkpoint

    for part in (f"ckpt.tmp-{DEAD_PID}", f"ckpt.old-{DEAD_PID}"):  # killed before the first rename, or between
        run = killed_run(tmp_path / part, gpt_cfg, part)
        with pytest.raises(UserError, match="already holds a run .*add --resume"):
            check_out(run, False, gpt_cfg)  # a fresh run would train over a real checkpoint
        check_out(run, True)
        assert loop.resume_from(run, "ckpt", complete_checkpoint) == run / part
        loop.clear_debris(run, CHECKPOINTS)  # what --resume does once every rank has read the checkpoint
        assert sorted(os.listdir(run)) == ["ckpt", "config.yaml", "log.csv"]
        assert load_checkpoint(run / "ckpt", with_train_state=True).step == 3


def test_a_run_killed_before_its_first_checkpoint_starts_over_fresh_or_with_resume(gpt_cfg, tmp_path):
    from dataclasses import replace

    from physics_llm.errors import UserError
    from training import loop
    from training.train_gpt import CHECKPOINTS, check_out, complete_checkpoint

    run = killed_run(tmp_path / "run", gpt_cfg, None)
    half = run / f"ckpt.tmp-{DEAD_PID}"  # killed while writing its first checkpoint
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\0" * 10)
    check_out(run, False)  # before the config is known: nothing to refuse yet
    check_out(run, False, gpt_cfg)  # the same config: it starts over
    with pytest.raises(UserError, match=r"stopped before its first checkpoint.*\(lr: 0.003 there, 0.001 now\)"):
        check_out(run, False, replace(gpt_cfg, lr=1e-3))
    assert loop.resume_from(run, "ckpt", complete_checkpoint) is None  # --resume starts over from step 0 too
    loop.clear_debris(run, CHECKPOINTS)
    assert sorted(os.listdir(run)) == ["config.yaml"]
    with pytest.raises(UserError, match="--resume: no checkpoint at .* and no run in"):
        check_out(tmp_path / "nothing", True)


# ---------------------------------------------------------------- cheap checks before the slow steps


def test_train_refuses_bad_input_in_one_line_before_indexing(data, tmp_path):
    """Each case fails before torch loads: no `indexing` line, nothing written."""
    from dataclasses import replace

    from physics_llm.config import load_config, save_config
    from training.gpt_config import TrainGPTConfig

    (tmp_path / "file").write_text("x")
    other = tmp_path / "other"
    other.mkdir()  # a run killed before its first checkpoint, with another config
    save_config(replace(load_config(TrainGPTConfig, TINY_GPT), lr=0.5), other / "config.yaml")
    cases = [
        (["gpt", "--config", TINY_GPT, "--out", tmp_path / "file" / "run"], ["--out", "is not a directory"]),
        (["gpt", "--config", TINY_GPT, "--out", other], ["stopped before its first checkpoint", "lr: 0.5 there"]),
        (["gpt", "--config", TINY_GPT, "--out", tmp_path / "a", "--set", "init_from=" + str(tmp_path / "none")],
         ["init_from", "no such checkpoint directory"]),
        (["lora", "--config", TINY_LORA, "--base", tmp_path / "none", "--out", tmp_path / "b"],
         ["base", "none: no such directory"]),
    ]
    for args, needles in cases:
        t0 = time.perf_counter()
        r = cli("train", args[0], "--quiet", "--data", data, *args[1:])
        one_error_line(r, *needles)
        assert time.perf_counter() - t0 < 60, args
    assert sorted(os.listdir(tmp_path)) == ["file", "other"] and os.listdir(other) == ["config.yaml"]


HF_CASES = [  # (spec made from the tiny model directory M and a scratch directory T, words of the error)
    ("hf:T/none", ["no such directory"]),
    ("hf:T/file", ["not a directory"]),
    ("hf:T", ["no config.json"]),
    ("hf:T/bincfg", ["config.json", "not a text file"]),
    ("hf:T/listcfg", ["config.json", "JSON object"]),
    ("hf:T/noweights", ["no weights"]),
    ("hf:T/dirfmt", ["text_format.json", "is a directory"]),
    ("hf:M?samples=2", ["unknown option", "samples=2"]),
    ("hf:M@", ["hf:BASE@ADAPTER_DIR"]),
    ("hf:M@T/none", ["no LoRA adapter at"]),
    ("hf:M@T/file", ["not a directory"]),
    ("hf:M@T/noweights", ["no adapter weights"]),
    ("hf:no-such-org/no-such-model", ["not in the Hugging Face cache"]),
]


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """(M, T): a model directory (config.json and a weights file; spec checks never load them) and the
    hostile ones beside it."""
    t = tmp_path_factory.mktemp("hf")
    m = t / "model"
    m.mkdir()
    (m / "config.json").write_text('{"model_type": "lfm2"}')
    (m / "model.safetensors").write_bytes(b"x")
    (t / "file").write_text("x")
    for name, cfg in (("bincfg", b"\xff\xfe\x00"), ("listcfg", b"[1, 2]"), ("noweights", b"{}"), ("dirfmt", b"{}")):
        (t / name).mkdir()
        (t / name / "config.json").write_bytes(cfg)
        if name == "dirfmt":
            (t / name / "model.safetensors").write_bytes(b"x")
            (t / name / "text_format.json").mkdir()
    (t / "noweights" / "adapter_config.json").write_text("{}")
    return m, t


def spec_of(template: str, m: Path, t: Path) -> str:
    return template.replace("T", str(t)).replace("hf:M", f"hf:{m}")


@pytest.mark.parametrize("template, needles", HF_CASES)
def test_hf_specs_are_checked_before_anything_loads(hf_dirs, template, needles):
    from physics_llm.errors import UserError
    from physics_llm.models.registry import check_hf_spec

    spec = spec_of(template, *hf_dirs)
    with pytest.raises(UserError) as e:
        check_hf_spec(spec.removeprefix("hf:"))
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in needles), msg


def test_bad_hf_specs_in_eval_and_the_headless_app_are_one_line(hf_dirs, data, tmp_path):
    """The spec checks above, through the CLI (each command prints the error its own way)."""
    m, t = hf_dirs
    r = cli("eval", "--model", spec_of(HF_CASES[11][0], m, t), "--data", data, "--split", "test", "--horizon", "3",
            "--out", tmp_path / "r", env={"HF_HUB_OFFLINE": "1"})
    one_error_line(r, *HF_CASES[11][1])
    assert not (tmp_path / "r").exists()
    r = cli("app", "--model", spec_of(HF_CASES[7][0], m, t), "--frames", "2", env={"HF_HUB_OFFLINE": "1"})
    one_error_line(r, *HF_CASES[7][1])


@pytest.mark.slow
def test_damaged_hf_model_files_are_one_line_never_a_traceback(data, tmp_path):
    """Files that pass the cheap checks but not the libraries' loaders (a weights file cut short, a
    tokenizer missing): still one line. A config that names code to run is refused, never run."""
    from hf_tiny import build_tiny_lfm2

    base = build_tiny_lfm2(tmp_path / "tiny")
    cut = tmp_path / "cut"
    cut.mkdir()
    for f in base.iterdir():
        (cut / f.name).write_bytes(f.read_bytes()[:100] if f.suffix == ".safetensors" else f.read_bytes())
    evil = tmp_path / "evil"
    evil.mkdir()
    for f in base.iterdir():
        (evil / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((evil / "config.json").read_text())
    (evil / "config.json").write_text(json.dumps({**cfg, "model_type": "evil",
                                                  "auto_map": {"AutoModelForCausalLM": "evil.Model"}}))
    (evil / "evil.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\n")
    for d, needle in ((cut, "cannot be loaded"), (evil, "cannot load it")):
        r = cli("eval", "--model", f"hf:{d}", "--data", data, "--split", "test", "--horizon", "3",
                "--out", tmp_path / "r", env={"HF_HUB_OFFLINE": "1"})
        one_error_line(r, needle)
    assert not (tmp_path / "ran").exists()


# ---------------------------------------------------------------- real kills of real training runs (slow)


def train(kind: str, *args, env=None):
    return cli("train", kind, "--quiet", *args, env=env)


@pytest.fixture(scope="module")
def full_gpt(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("recovery") / "full"
    r = train("gpt", "--config", TINY_GPT, "--data", data, "--out", run)
    assert r.returncode == 0, r.stderr
    return run


def same_weights(a: Path, b: Path, weights: str = "model.safetensors") -> bool:
    return (a / weights).read_bytes() == (b / weights).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["swap-filled:ckpt:1", "swap-moved:ckpt:1"])
def test_gpt_killed_in_a_checkpoint_swap_resumes_bit_exact(data, full_gpt, tmp_path, fault):
    """Killed with its first checkpoint written but not renamed in (step 3), or in the second save
    between its renames (step 6: no ckpt/, only ckpt.old-PID and a whole ckpt.tmp-PID)."""
    run = tmp_path / "run"
    r = train("gpt", "--config", TINY_GPT, "--data", data, "--out", run, env={FAULT: fault})
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not (run / "ckpt").exists()
    one_error_line(train("gpt", "--config", TINY_GPT, "--data", data, "--out", run), "already holds a run", "--resume")
    r = train("gpt", "--data", data, "--out", run, "--resume", "--steps", "6")
    if fault.startswith("swap-moved"):  # the finished step-6 checkpoint was put in place: nothing left to train
        assert r.returncode == 2 and "at step 6 of 6 already" in r.stderr, r.stderr
    else:
        assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(run)) == ["ckpt", "config.yaml", "log.csv"]
    assert same_weights(run / "ckpt", full_gpt / "ckpt")
    rows = [line.split(",")[:4] for line in (run / "log.csv").read_text().splitlines()]  # step, lr, losses
    assert rows == [line.split(",")[:4] for line in (full_gpt / "log.csv").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("rerun", [[], ["--resume"]])
def test_gpt_killed_before_its_first_checkpoint_is_rerun_or_resumed_from_step_0(data, full_gpt, tmp_path, rerun):
    """A real SIGKILL once the step-0 evaluation is logged, before the first checkpoint (step 3)."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "physics_llm.cli", "train", "gpt", "--quiet", "--config", str(TINY_GPT),
           "--data", str(data), "--out", str(run)]
    p = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                                                 FAULT: "swap-filled:ckpt:1"})
    for line in p.stderr:  # the fault hook stops it at the first checkpoint should the kill below come late
        if line.startswith("step 0:"):
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=300)
    assert p.returncode == -signal.SIGKILL and (run / "log.csv").is_file()
    if any(run.glob("ckpt.tmp-*/train_state.pt")):
        pytest.skip("the kill came after the first checkpoint was written (a loaded machine)")
    r = train("gpt", "--config", TINY_GPT, "--data", data, "--out", run, *rerun)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(run)) == ["ckpt", "config.yaml", "log.csv"]
    assert same_weights(run / "ckpt", full_gpt / "ckpt")
    assert (run / "log.csv").read_bytes().count(b"\n0,") == 1  # one step-0 row, not the killed run's as well


@pytest.mark.slow
def test_lora_killed_between_the_adapter_renames_resumes_bit_exact(data, tmp_path):
    from hf_tiny import build_tiny_lfm2

    base = build_tiny_lfm2(tmp_path / "tiny")
    args = ["--config", TINY_LORA, "--base", base, "--data", data, "--set", "stage_steps=[6, 0, 0, 0, 0]"]
    full, run = tmp_path / "full", tmp_path / "run"
    r = train("lora", *args, "--out", full)
    assert r.returncode == 0, r.stderr
    r = train("lora", *args, "--out", run, env={FAULT: "swap-moved:adapter:1"})  # the second save (step 4)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not (run / "adapter").exists() and len(list(run.glob("adapter.old-*"))) == 1
    one_error_line(train("lora", *args, "--out", run), "already holds a run", "--resume")
    r = train("lora", "--data", data, "--out", run, "--resume")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(run)) == ["adapter", "config.yaml", "log.csv"]
    assert same_weights(run / "adapter", full / "adapter", "adapter_model.safetensors")
    assert json.loads((run / "adapter" / "meta.json").read_text())["step"] == 6
