"""registry.check_spec: what load_predictor refuses before loading, found without loading (no torch)."""

import json
import shutil
from pathlib import Path

import pytest

from physics_llm.errors import UserError
from physics_llm.models.registry import check_spec, load_predictor

SHIPPED = Path(__file__).resolve().parents[1] / "assets/checkpoints/gpt-contact"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A copy of the shipped checkpoint with a damaged decoding.json beside a good one."""
    d = tmp_path_factory.mktemp("ck")
    good = d / "good"
    shutil.copytree(SHIPPED, good, ignore=shutil.ignore_patterns("eval*", "*.csv", "*.yaml", "README.md"))
    bad = d / "baddecoding"
    shutil.copytree(good, bad)
    (bad / "decoding.json").write_text(json.dumps({"beams": "three"}))
    return d


BAD = ["zz:1", "baseline:nope", "oracle:1", "gpt:", "gpt:{d}/none", "gpt:{d}/good?beam=3", "gpt:{d}/good?beams=0",
       "gpt:{d}/baddecoding", "hf:{d}/none", "hf:{d}/good?samples=2"]


@pytest.mark.parametrize("spec", BAD)
def test_check_spec_refuses_what_load_predictor_refuses_with_the_same_line(spec, ckpt):
    spec = spec.format(d=ckpt)
    with pytest.raises(UserError) as checked:
        check_spec(spec)
    with pytest.raises(UserError) as loaded:
        load_predictor(spec)
    assert str(checked.value) == str(loaded.value) and "\n" not in str(checked.value)


def test_good_specs_pass_without_loading_torch(ckpt, modules_after):
    for spec in ("baseline:copy", "baseline:impulse", "oracle", f"gpt:{ckpt}/good", f"gpt:{ckpt}/good?beams=3"):
        check_spec(spec)
    assert "torch" not in modules_after(f"from physics_llm.models.registry import check_spec\n"
                                        f"check_spec('gpt:{ckpt}/good?samples=2')")
