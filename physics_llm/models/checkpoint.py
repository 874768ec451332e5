"""The one place that saves and loads GPT checkpoints (nanochat's checkpoint_manager idea).

A checkpoint is a directory:

    model.safetensors the model's weights (safetensors: tensors only, nothing to unpickle; the tied
                      embedding is stored once); checkpoints written before it hold model.pt (a
                      torch state_dict, read with weights_only=True) and keep loading
    gpt_config.json   GPTConfig, so the model is rebuilt from the checkpoint alone
    text_format.json  TextFormat the model was trained on (view, encoding, context, ...)
    tokenizer.json    the tokenizer's vocabulary (text/tokenizer.py)
    meta.json         {"step": ..., "meta": {...}, "tokenizer_sha256": ...}: free-form facts (config,
                      losses, data) and the sha256 of the tokenizer's vocabulary the model was
                      trained with; load_checkpoint refuses a tokenizer.json that does not match it
                      (a permuted vocabulary would decode every prediction to other digits). A
                      checkpoint saved before the record must hold the one tokenizer physics-llm
                      has ever written (DigitTokenizer()).
    train_state.pt    optional: optimizer state etc. for `--resume`: tensors, numbers, strings,
                      lists and dicts only, read with torch.load(weights_only=True), so a planted
                      file can never run code (save_train_state / load_train_state, also for LoRA)

Saving is kill-safe: everything is written into PATH.tmp-<pid>, then the old PATH is
renamed to PATH.old-<pid>, the new one renamed to PATH, and the old one deleted. A kill
before the first rename leaves the old checkpoint untouched (and a stale tmp directory,
removed by the next save); a kill between the two renames leaves PATH.old-<pid>, which
load_checkpoint falls back to and the next save removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from physics_llm.errors import UserError
from physics_llm.text.format import TextFormat
from physics_llm.text.tokenizer import DigitTokenizer

WEIGHTS = "model.safetensors"
OLD_WEIGHTS = "model.pt"  # checkpoints saved before safetensors
FILES = ("gpt_config.json", "text_format.json", "tokenizer.json", "meta.json")  # beside WEIGHTS or OLD_WEIGHTS
TRAIN_HINT = "train one with `physics-llm train gpt ...`"


@dataclass
class Checkpoint:
    model: object  # GPT, in eval mode, on the CPU (or load_checkpoint's device)
    gpt_cfg: object  # GPTConfig
    fmt: TextFormat
    tokenizer: DigitTokenizer
    step: int
    meta: dict
    train_state: dict | None  # only with load_checkpoint(..., with_train_state=True)


def _jsonable(o):
    """numpy and torch scalars in meta (losses, learning rates) as numbers; other objects as text."""
    return o.item() if hasattr(o, "item") else str(o)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _siblings(path: Path, tag: str) -> list[tuple[Path, int]]:
    """PATH.<tag>-<pid> directories next to PATH, with their pid."""
    out = []
    for p in path.parent.glob(f"{path.name}.{tag}-*"):
        pid = p.name.rsplit("-", 1)[1]
        if pid.isdigit() and p.is_dir() and not p.is_symlink():
            out.append((p, int(pid)))
    return out


def save_checkpoint(path, model, gpt_cfg, fmt, tokenizer, *, step: int, train_state: dict | None = None,
                    meta: dict | None = None) -> None:
    """Write the checkpoint directory PATH atomically (see the module docstring)."""

    from physics_llm.io import swap_dir

    model = getattr(model, "_orig_mod", model)  # torch.compile wraps the model; save the plain keys

    def fill(tmp: Path) -> None:
        save_weights(model, tmp / WEIGHTS)
        _write_json(tmp / "gpt_config.json", asdict(gpt_cfg))
        _write_json(tmp / "text_format.json", fmt.to_dict())
        tokenizer.save(tmp / "tokenizer.json")
        _write_json(tmp / "meta.json", {"step": int(step), "meta": meta or {},
                                        "tokenizer_sha256": vocab_sha256(tokenizer)})
        if train_state is not None:  # last: a temp with a readable train_state.pt is whole
            save_train_state(tmp / "train_state.pt", train_state)

    swap_dir(Path(path), fill)  # PATH.tmp-<pid>, then PATH -> PATH.old-<pid>, tmp -> PATH (physics_llm/io.py)


def save_weights(model, path: Path) -> None:
    """The model's weights as safetensors; a tensor tied to an earlier key (sorted) is stored once.

    Same weights, same bytes: safetensors orders tensors itself, and one metadata entry leaves
    nothing to its hash-map order."""
    from safetensors.torch import save_file

    sd, out, seen = model.state_dict(), {}, set()
    for k in sorted(sd):
        ptr = sd[k].data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            out[k] = sd[k].contiguous()
    save_file(out, str(path), metadata={"format": "pt"})


def weights_file(d: Path) -> Path | None:
    """The checkpoint's weights: model.safetensors, else an older checkpoint's model.pt, else None."""
    for name in (WEIGHTS, OLD_WEIGHTS):
        if (d / name).is_file():
            return d / name
    return None


def load_weights(model, path: Path) -> None:
    """Weights from model.safetensors or (older checkpoints) model.pt into `model`, strictly.

    RuntimeError for keys or shapes that do not fit, other exceptions for unreadable files."""
    import torch

    if path.name == OLD_WEIGHTS:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return
    from safetensors.torch import load_file

    state = load_file(str(path), device="cpu")
    own = model.state_dict()
    first = {}  # storage -> the first key (sorted) that holds it: the one save_weights stored
    for k in sorted(own):
        first.setdefault(own[k].data_ptr(), k)
    for k in own:
        stored = first[own[k].data_ptr()]
        if k not in state and stored != k and stored in state:
            state[k] = state[stored]  # a tied tensor
    model.load_state_dict(state, strict=True)


def vocab_sha256(tokenizer: DigitTokenizer) -> str:
    """sha256 of the tokenizer's vocabulary in id order (what a model's token ids mean)."""
    return hashlib.sha256(json.dumps(["digit", tokenizer.vocab], ensure_ascii=True).encode()).hexdigest()


def check_tokenizer(d: Path, given: Path, tokenizer: DigitTokenizer, meta: dict) -> None:
    """UserError unless tokenizer.json is the tokenizer the checkpoint's model was trained with."""
    recorded = meta.get("tokenizer_sha256")
    fix = (f"restore the checkpoint's own tokenizer.json (or retrain: {TRAIN_HINT}); a different vocabulary "
           "would read every prediction as other characters")
    if recorded is None:  # saved before the record: the only tokenizer physics-llm has written
        if tokenizer.vocab != DigitTokenizer().vocab:
            raise UserError(f"checkpoint {given}: {d / 'tokenizer.json'} is not the digit tokenizer this model "
                            f"was trained with (its vocabulary differs, and meta.json records no tokenizer); {fix}")
        return
    if recorded != vocab_sha256(tokenizer):
        raise UserError(f"checkpoint {given}: {d / 'tokenizer.json'} does not match the tokenizer the model was "
                        f"trained with (vocabulary sha256 {vocab_sha256(tokenizer)[:12]}..., meta.json records "
                        f"{str(recorded)[:12]}...); {fix}")


def save_train_state(path: Path, state: dict) -> None:
    """The resume state (optimizer state_dict, torch RNG, accumulators) as plain tensors and numbers."""
    import torch

    _check_plain(state, "train_state")
    torch.save(state, path)


def _check_plain(o, where: str) -> None:
    """Only what load_train_state reads back: a numpy array or any other object is a bug, caught at save time."""
    import torch

    if isinstance(o, dict):
        for k, v in o.items():
            _check_plain(k, where)
            _check_plain(v, f"{where}[{k!r}]")
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            _check_plain(v, f"{where}[{i}]")
    elif not (o is None or isinstance(o, (bool, int, float, str, torch.Tensor))):
        raise TypeError(f"{where}: {type(o).__name__} cannot go into train_state.pt (tensors, numbers, strings, "
                        "lists and dicts only)")


RESUME_FIX = "start a new run (a new --out, without --resume)"


def load_train_state(path: Path) -> dict:
    """A train_state.pt read without unpickling code: tensors, numbers, strings, lists and dicts only.

    Anything else (a class, a function, a raw pickle) is refused with a UserError, never executed.
    """
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns on old pickle protocols: the error below is the one line
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path}: refused: it holds Python objects other than tensors, numbers, strings, lists "
                        f"and dicts (loading it could run code); it was not written by physics-llm, "
                        f"{RESUME_FIX}") from None
    except Exception as e:  # truncated or not a torch file at all: zip, EOF, decoding errors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"{path}: not a readable train state ({first}); the checkpoint is damaged, "
                        f"{RESUME_FIX}") from None
    rng = state.get("torch_rng") if isinstance(state, dict) else None
    if not (isinstance(state, dict) and isinstance(state.get("optimizer"), dict) and isinstance(state.get("acc"), dict)
            and isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8):
        raise UserError(f"{path}: expected a dict with 'optimizer', 'torch_rng' (a uint8 tensor) and 'acc'; "
                        f"the checkpoint is damaged, {RESUME_FIX}")
    return state


def resolve_checkpoint(path: Path) -> Path:
    """PATH, or the old copy a save killed between its two renames left behind."""
    if path.is_dir():
        return path
    olds = [p for p, _ in _siblings(path, "old") if weights_file(p) is not None]
    if not path.exists() and olds:
        return max(olds, key=lambda p: p.stat().st_mtime)
    if path.exists():
        raise UserError(f"{path} is not a checkpoint directory ({TRAIN_HINT})")
    raise UserError(f"no checkpoint at {path} ({TRAIN_HINT})")


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _read_json(d: Path, name: str):
    from physics_llm.io import read_text

    text = read_text(d / name, f"checkpoint file ({name})", 16 << 20)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{d / name}: not valid JSON ({e}); the checkpoint is damaged, {TRAIN_HINT}") from None
    except (ValueError, RecursionError) as e:
        raise UserError(f"{d / name}: not valid JSON ({str(e)[:100] or 'nested too deeply'}); the checkpoint is "
                        f"damaged, {TRAIN_HINT}") from None


MAX_GPT = {"vocab_size": 1 << 16, "block_size": 1 << 16, "n_layer": 256, "n_head": 256, "n_embd": 1 << 14}


def _gpt_config(d: Path, cfg_d):
    """GPTConfig from gpt_config.json, every field checked (a string or a zero would fail deep in torch)."""
    from physics_llm.models.gpt_config import GPTConfig

    where = d / "gpt_config.json"
    known = {f.name: f for f in fields(GPTConfig)}
    if not isinstance(cfg_d, dict) or set(cfg_d) - set(known):
        raise UserError(f"{where}: expected the keys {', '.join(sorted(known))}, got "
                        f"{sorted(cfg_d) if isinstance(cfg_d, dict) else type(cfg_d).__name__}; {TRAIN_HINT}")
    for k, v in cfg_d.items():
        if k == "dropout":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
            want = "a number in [0, 1)"
        else:
            ok = _count(v) and 1 <= v <= MAX_GPT.get(k, 1 << 16)
            want = f"a whole number 1..{MAX_GPT.get(k, 1 << 16)}"
        if not ok:
            raise UserError(f"{where}: {k} must be {want}, got {str(v)[:40]!r}; the checkpoint is damaged, "
                            f"{TRAIN_HINT}")
    cfg = GPTConfig(**cfg_d)
    if cfg.n_embd % cfg.n_head:
        raise UserError(f"{where}: n_head {cfg.n_head} does not divide n_embd {cfg.n_embd}; the checkpoint is "
                        f"damaged, {TRAIN_HINT}")
    return cfg


DEVICE_ENV = "PHYSICS_LLM_DEVICE"  # where load_checkpoint puts a model by default: cpu (unset), cuda or auto


def model_device(device: str | None = None):
    """The torch.device for a loaded model: `device` (cpu, cuda, cuda:N or auto), else $PHYSICS_LLM_DEVICE,
    else the CPU. UserError for a GPU torch does not see."""
    import torch

    given = device is not None
    device = (device if given else os.environ.get(DEVICE_ENV) or "cpu").strip()
    where = "device" if given else DEVICE_ENV
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        raise UserError(f"{where} {device!r}: use cpu, cuda, cuda:N or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{where} {device}: torch sees no GPU here; use cpu (unset {DEVICE_ENV}) or auto")
    return torch.device(device)


def load_checkpoint(path, *, with_train_state: bool = False, device: str | None = None) -> Checkpoint:
    """Rebuild the model, text format and tokenizer from a checkpoint directory.

    The model goes to `device` (model_device: default $PHYSICS_LLM_DEVICE, else the CPU), so
    `PHYSICS_LLM_DEVICE=cuda physics-llm eval --model gpt:...` predicts on the GPU.
    """

    from physics_llm.models.gpt import GPT

    given = Path(path)
    d = resolve_checkpoint(given)
    missing = [f for f in FILES if not (d / f).is_file()]
    weights = weights_file(d)
    if weights is None:
        missing.insert(0, WEIGHTS)
    if with_train_state and not (d / "train_state.pt").is_file():
        missing.append("train_state.pt")
    if missing:
        raise UserError(f"checkpoint {given} is missing {', '.join(missing)} (incomplete or not a checkpoint; "
                        f"{TRAIN_HINT})")
    cfg = _gpt_config(d, _read_json(d, "gpt_config.json"))
    try:
        fmt = TextFormat.from_dict(_read_json(d, "text_format.json"))
    except (UserError, TypeError) as e:  # an unknown version or field, a bad value
        raise UserError(f"{d / 'text_format.json'}: {e}") from None
    _read_json(d, "tokenizer.json")  # binary, oversized or nested too deeply: one line before the tokenizer parses it
    tokenizer = DigitTokenizer.load(d / "tokenizer.json")
    if tokenizer.vocab_size > cfg.vocab_size:
        raise UserError(f"checkpoint {given}: tokenizer has {tokenizer.vocab_size} symbols but the model only "
                        f"vocab_size {cfg.vocab_size}; the files do not belong together ({TRAIN_HINT})")
    meta = _read_json(d, "meta.json")
    if not isinstance(meta, dict) or not isinstance(meta.get("meta", {}), dict) or not _count(meta.get("step", 0)):
        raise UserError(f"{d / 'meta.json'}: expected an object with 'step' (a count) and 'meta' (an object); "
                        f"the checkpoint is damaged, {TRAIN_HINT}")
    check_tokenizer(d, given, tokenizer, meta)
    model = GPT(cfg)
    try:
        load_weights(model, weights)
    except Exception as e:  # wrong shapes or keys, a truncated file, a raw pickle, a damaged safetensors header
        first = (str(e).strip().splitlines() or [type(e).__name__])[:2]
        raise UserError(f"checkpoint {given}: {weights.name} does not fit gpt_config.json ({' '.join(first)[:300]}); "
                        f"{TRAIN_HINT}") from None
    model.to(model_device(device)).eval()
    train_state = None
    if with_train_state:
        train_state = load_train_state(d / "train_state.pt")
    return Checkpoint(model=model, gpt_cfg=cfg, fmt=fmt, tokenizer=tokenizer, step=int(meta.get("step", 0)),
                      meta=meta.get("meta", {}), train_state=train_state)


def convert_weights(path) -> Path:
    """Rewrite an older checkpoint's model.pt as model.safetensors (same weights; model.pt removed).

    `python -m physics_llm.models.checkpoint DIR`: how the shipped checkpoints were moved over."""
    from physics_llm.io import atomic_path

    ck = load_checkpoint(path)
    d = resolve_checkpoint(Path(path))
    out = d / WEIGHTS
    with atomic_path(out) as tmp:
        save_weights(ck.model, tmp)
    if (d / OLD_WEIGHTS).is_file():
        (d / OLD_WEIGHTS).unlink()
    return out


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:]:
        print(convert_weights(arg))
