"""The training configs' keys come from one source: TextFormat's fields, GPTConfig's, one default each.

The text keys are inherited from TextFormat (config.keys_of), the GPT's model keys from GPTConfig
(physics_llm/models/gpt_config.py, a module without torch, so a config loads without it); each
trainer's optimisation and evaluation defaults are one trainer_defaults call. A RUN/config.yaml
written before any of that (tests/fixtures/old_run_config_*.yaml) still loads to the same config.
"""

import dataclasses
import typing
from pathlib import Path

import pytest

from physics_llm.config import load_config
from physics_llm.text import TextFormat
from training import loop
from training.config import TEXT_KEYS, TrainConfig, keys_of, trainer_defaults
from training.gpt_config import MODEL_KEYS, TrainGPTConfig
from training.lora_config import TrainLoRAConfig

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINERS = [(TrainGPTConfig, "gpt_tiny"), (TrainLoRAConfig, "lora_tiny")]


def described(cls, names=None) -> list[tuple]:
    """(name, type, default) of a dataclass's fields, in order (of `names` only, when given)."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls) if names is None or f.name in names]


@pytest.mark.parametrize("cls", [TrainConfig, TrainGPTConfig, TrainLoRAConfig])
def test_the_text_keys_are_text_format_s_fields_with_its_defaults(cls):
    assert TEXT_KEYS == tuple(f.name for f in dataclasses.fields(TextFormat))
    assert described(cls, TEXT_KEYS) == described(TextFormat)
    assert [f.name for f in dataclasses.fields(cls)][:len(TEXT_KEYS)] == list(TEXT_KEYS)  # first, as before


def test_the_model_keys_are_gpt_config_s_fields_with_its_defaults(modules_after):
    from physics_llm.models.gpt import GPTConfig

    gpt = {name: (tp, default) for name, tp, default in described(GPTConfig) if name != "vocab_size"}
    assert set(MODEL_KEYS) == set(gpt)
    assert {name: (tp, default) for name, tp, default in described(TrainGPTConfig, MODEL_KEYS)} == gpt
    assert GPTConfig(vocab_size=64, **load_config(TrainGPTConfig).model_kwargs()) == GPTConfig()
    assert "torch" not in modules_after("from training.gpt_config import TrainGPTConfig")


def test_each_trainer_has_its_own_defaults_for_the_keys_without_one():
    required = [f.name for f in dataclasses.fields(TrainConfig) if f.default is dataclasses.MISSING]
    assert "batch_size" in required and "ckpt_every" in required
    gpt, lora = load_config(TrainGPTConfig), load_config(TrainLoRAConfig)  # no key missing
    assert (gpt.batch_size, gpt.lr, gpt.eval_every, gpt.ckpt_every) == (64, 1e-3, 250, 500)
    assert (lora.batch_size, lora.lr, lora.eval_every, lora.ckpt_every) == (8, 2e-4, 100, 200)
    assert isinstance(gpt.lr, float) and isinstance(lora.weight_decay, float)
    with pytest.raises(TypeError, match="TrainConfig has no key 'batch'"):
        trainer_defaults(batch=1)(type("Config", (TrainConfig,), {}))


def test_keys_of_copies_names_types_defaults_and_order():
    @dataclasses.dataclass
    class Source:
        a: int = 1
        b: list = dataclasses.field(default_factory=lambda: [2])
        c: str = "x"

    keys = keys_of(Source, skip=("c",))
    assert described(keys) == [("a", int, 1), ("b", list, dataclasses.MISSING)]
    assert keys().b == [2] and keys().b is not keys().b
    with pytest.raises(TypeError):
        keys(1)  # keyword only, like the configs


@pytest.mark.parametrize("cls, name", TRAINERS)
def test_a_config_yaml_written_before_the_keys_came_from_one_source_still_resumes(cls, name):
    """RUN/config.yaml as commit 362dea5 wrote it: --resume loads it, and check_out finds no difference."""
    old = FIXTURES / f"old_run_config_{name}.yaml"
    cfg = load_config(cls, ROOT / "configs/train" / f"{name}.yaml")
    assert load_config(cls, old) == cfg
    assert loop.config_difference(old, cfg) is None
    assert loop.config_difference(old, dataclasses.replace(cfg, encoding="absolute")) == \
        "encoding: 'residual' there, 'absolute' now"
