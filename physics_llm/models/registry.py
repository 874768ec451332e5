"""Predictor specs -> predictors (docs/DESIGN.md "Predictors"). Adding a kind is one function and one line."""

from __future__ import annotations

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


def _gpt(arg: str) -> Predictor:
    if not arg:
        raise UserError("'gpt' needs a checkpoint directory: gpt:PATH (e.g. gpt:assets/checkpoints/gpt-small)")
    _need("torch", "gpt")
    from physics_llm.models.gpt_predictor import GPTPredictor

    return GPTPredictor.load(arg)


def _hf(arg: str) -> Predictor:
    _need("transformers", "hf")
    from physics_llm.models.hf_predictor import HFPredictor

    return HFPredictor.load(arg)


KINDS: dict[str, Callable[[str], Predictor]] = {
    "baseline": _baseline,
    "oracle": _oracle,
    "gpt": _gpt,
    "hf": _hf,
}

SPEC_HELP = ("baseline:copy, baseline:constvel, baseline:ballistic, oracle, gpt:CHECKPOINT_DIR, "
             "hf:PATH_OR_ID, hf:BASE@ADAPTER_DIR")


def load_predictor(spec: str) -> Predictor:
    """'baseline:constvel' -> a Predictor. Errors name the spec and the valid kinds."""
    kind, _, arg = spec.partition(":")
    if kind not in KINDS:
        raise UserError(f"unknown model spec {spec!r} (kinds: {', '.join(KINDS)}; e.g. {SPEC_HELP})")
    p = KINDS[kind](arg)
    p.name = spec
    return p
