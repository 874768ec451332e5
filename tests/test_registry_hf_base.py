"""One check of a local Hugging Face base model: registry.check_hf_base, which hf_loading.resolve_local
(what load_base loads) is, so the spec check and the loader cannot disagree. Cheap: no model loads."""

import json

import pytest

from physics_llm.errors import UserError
from physics_llm.models.hf_loading import resolve_local
from physics_llm.models.registry import check_hf_base


def model_dir(d, weights=True):
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "lfm2"}))
    if weights:
        (d / "model.safetensors").write_bytes(b"not read by the check")
    return d


@pytest.mark.parametrize("check", [check_hf_base, resolve_local])
def test_a_model_directory_resolves_to_itself(check, tmp_path):
    d = model_dir(tmp_path / "m")
    assert check(str(d)) == d


@pytest.mark.parametrize("check", [check_hf_base, resolve_local])
def test_the_same_errors_both_ways(check, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    model_dir(tmp_path / "bare", weights=False)
    for base, message in [
        (tmp_path / "none", "no such directory; the weights must be present locally"),
        (tmp_path / "file", "not a directory"),
        (tmp_path / "empty", "not a model directory (no config.json)"),
        (tmp_path / "bare", "no weights beside config.json"),
    ]:
        with pytest.raises(UserError) as e:
            check(str(base))
        assert str(e.value).startswith(f"base model {base}: {message}")
    pytest.importorskip("huggingface_hub")
    with pytest.raises(UserError, match=r"^base model 'no-such-org/no-such-model': no such directory, and not in "
                                        r"the Hugging Face cache .*; the weights must be present locally"):
        check("no-such-org/no-such-model")


def test_the_config_s_name_for_the_base(tmp_path):
    with pytest.raises(UserError, match=f"^base {tmp_path / 'none'}: no such directory"):
        check_hf_base(str(tmp_path / "none"), "base")
