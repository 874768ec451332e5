"""Predictor specs -> predictors (docs/DESIGN.md "Predictors"). Adding a kind is one function and one line."""

from __future__ import annotations

import json
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from physics_llm.errors import UserError
from physics_llm.models.base import Predictor


def _baseline(arg: str) -> Predictor:
    from physics_llm.models.baselines import BASELINES

    if arg not in BASELINES:
        raise UserError(f"unknown baseline {arg!r} (use baseline:{', baseline:'.join(BASELINES)})")
    return BASELINES[arg]()


def _oracle(arg: str) -> Predictor:
    if arg:
        raise UserError(f"'oracle' takes no argument, got 'oracle:{arg}'")
    from physics_llm.models.oracle import Oracle

    return Oracle()


def _need(module: str, kind: str) -> None:
    """torch/transformers come with the `train` extra; say so instead of a traceback."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"'{kind}:' models need {module}: pip install -e '.[train]' (or `make setup`)")


def _check_gpt(arg: str) -> None:
    """The spec's form, options and decoding.json, and that the checkpoint directory is there (no torch)."""
    if not arg:
        raise UserError("'gpt' needs a checkpoint directory: gpt:PATH (e.g. gpt:assets/checkpoints/gpt-small)")
    from physics_llm.models.checkpoint import resolve_checkpoint
    from physics_llm.models.gpt_predictor import decoding_of, parse_options

    path, options = parse_options(arg)
    decoding_of(path, options)
    resolve_checkpoint(Path(path))


def _gpt(arg: str) -> Predictor:
    _check_gpt(arg)
    _need("torch", "gpt")
    from physics_llm.models.gpt_predictor import GPTPredictor

    return GPTPredictor.load(arg)


HF_SPEC = "hf:PATH_OR_ID or hf:BASE@ADAPTER_DIR (e.g. hf:LiquidAI/LFM2-350M@runs/lora1/adapter)"
HF_LOCAL = ("the weights must be present locally, nothing is downloaded: give a directory with config.json and "
            "the weights, or an id already in the Hugging Face cache")
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
MAX_JSON = 16 << 20  # config.json, adapter_config.json, text_format.json


def _looks_like_path(name: str) -> bool:
    """A local path rather than a Hub id ('org/name': one '/', letters, digits, '-', '_', '.')."""
    return (name.startswith(("/", ".", "~")) or Path(name).exists() or name.count("/") > 1
            or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name))


def _json_object(path: Path, what: str) -> dict:
    """The JSON object in `path` (a regular text file), else one UserError line naming the file."""
    from physics_llm.io import read_text

    text = read_text(path, what, MAX_JSON)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{path}: not valid JSON ({str(e)[:80] or 'nested too deeply'}); restore the file or save "
                        "the model again") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: must hold a JSON object, got {type(obj).__name__}; restore the file or save the "
                        "model again")
    return obj


def _check_format_file(d: Path) -> None:
    p = d / "text_format.json"
    if p.exists() or p.is_symlink():  # optional, but if it is there it must be readable
        _json_object(p, "text format file (text_format.json)")


def check_hf_base(base: str, what: str = "base model") -> Path:
    """A base model that can be loaded without a download: a directory with config.json (a JSON object) and
    weights, or an id in the local Hugging Face cache -> that directory (the id's cached snapshot). One
    UserError line naming `what` (the spec's base model, the config's `base`) otherwise. Cheap: no torch,
    no transformers. The one check of a base: hf_loading.resolve_local (what load_base loads) is this."""
    if _looks_like_path(base):
        p = Path(base).expanduser()
        if not p.exists():
            raise UserError(f"{what} {base}: no such directory; {HF_LOCAL}")
        if not p.is_dir():
            raise UserError(f"{what} {base}: not a directory; {HF_LOCAL}")
        cfg = p / "config.json"
        if not cfg.exists():
            raise UserError(f"{what} {base}: not a model directory (no config.json); {HF_LOCAL}")
        _json_object(cfg, "model config file (config.json)")
        if not any(f.is_file() for pattern in WEIGHT_GLOBS for f in p.glob(pattern)):
            raise UserError(f"{what} {base}: no weights beside config.json (model.safetensors, pytorch_model.bin "
                            f"or their sharded index); {HF_LOCAL}")
        _check_format_file(p)
        return p
    _need("huggingface_hub", "hf")
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(base, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError), or not a valid id
        raise UserError(f"{what} {base!r}: no such directory, and not in the Hugging Face cache "
                        f"{constants.HF_HUB_CACHE}; {HF_LOCAL}") from None


def check_hf_spec(arg: str) -> tuple[str, str | None]:
    """`hf:` spec (without `hf:`) -> (base, adapter), every local file checked first (cheap: nothing loads,
    nothing downloads). One UserError line for a malformed spec, a missing or damaged model or adapter."""
    if "?" in arg and not Path(arg).exists():
        option = arg.partition("?")[2]
        raise UserError(f"unknown option {option!r}: hf: models take no options ({HF_SPEC}; "
                        "samples=K is for gpt: checkpoints)")
    base, sep, adapter = arg.partition("@")
    if not base or (sep and not adapter):
        raise UserError(f"'hf' needs a model: {HF_SPEC}, got 'hf:{arg}'")
    check_hf_base(base)
    if not sep:
        return base, None
    d = Path(adapter).expanduser()
    hint = "train one with `physics-llm train lora ...`; its adapter is RUN/adapter"
    if not d.exists():
        raise UserError(f"no LoRA adapter at {adapter} ({hint})")
    if not d.is_dir():
        raise UserError(f"LoRA adapter {adapter}: not a directory; give a LoRA adapter directory ({hint})")
    if not (d / "adapter_config.json").exists():
        raise UserError(f"{adapter} is not a LoRA adapter directory: no adapter_config.json ({hint})")
    _json_object(d / "adapter_config.json", "adapter config file (adapter_config.json)")
    if not any((d / f).is_file() for f in ADAPTER_FILES):
        raise UserError(f"LoRA adapter {adapter}: no adapter weights ({' or '.join(ADAPTER_FILES)}); the adapter is "
                        f"incomplete ({hint})")
    _check_format_file(d)
    return base, adapter


@contextmanager
def _quiet_transformers():
    """transformers' warnings (an unknown model type, ...) would add lines before the one error line."""
    try:
        from transformers.utils import logging
    except ImportError:
        yield
        return
    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)


def _hf(arg: str) -> Predictor:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded, whatever a loader would try
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    check_hf_spec(arg)
    _need("transformers", "hf")
    from physics_llm.models.hf_predictor import HFPredictor

    try:
        with _quiet_transformers(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return HFPredictor.load(arg)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged weights or config values: the libraries' errors, one line
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise UserError(f"model 'hf:{arg}' cannot be loaded ({type(e).__name__}: {first}); its model or adapter "
                        "files are damaged or do not belong together: restore them or save them again") from None


KINDS: dict[str, Callable[[str], Predictor]] = {
    "baseline": _baseline,
    "oracle": _oracle,
    "gpt": _gpt,
    "hf": _hf,
}

SPEC_HELP = ("baseline:copy, baseline:constvel, baseline:ballistic, oracle, gpt:CHECKPOINT_DIR, "
             "hf:PATH_OR_ID, hf:BASE@ADAPTER_DIR")


def _kind(spec: str) -> tuple[str, str]:
    kind, _, arg = spec.partition(":")
    if kind not in KINDS:
        raise UserError(f"unknown model spec {spec!r} (kinds: {', '.join(KINDS)}; e.g. {SPEC_HELP})")
    return kind, arg


# What each kind can check before loading anything (the rules build in microseconds, so they are built).
CHECKS: dict[str, Callable[[str], object]] = {"baseline": _baseline, "oracle": _oracle, "gpt": _check_gpt,
                                              "hf": check_hf_spec}


def check_spec(spec: str) -> None:
    """The UserError load_predictor would raise for a bad kind, name, option or missing file, found
    without loading a model (milliseconds, no torch): the app checks its --model specs this way
    before it opens a window or starts a model worker."""
    kind, arg = _kind(spec)
    CHECKS[kind](arg)


def load_predictor(spec: str) -> Predictor:
    """'baseline:constvel' -> a Predictor. Errors name the spec and the valid kinds."""
    kind, arg = _kind(spec)
    p = KINDS[kind](arg)
    p.name = spec
    return p
