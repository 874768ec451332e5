"""The `hf:` predictor: grammar-constrained decoding over HF tokens, loading (base, adapter) and its errors.

Everything runs on the tiny in-process LFM2 of hf_tiny.py; nothing is downloaded.
"""

import json

import numpy as np
import pytest
import torch
from hf_tiny import build_tiny_lfm2, tiny_config, tiny_tokenizer
from tokenizers import Tokenizer, decoders, models
from transformers import Lfm2ForCausalLM, PreTrainedTokenizerFast

from physics_llm.errors import UserError
from physics_llm.models.decoding import DONE, start_state
from physics_llm.models.hf_decoding import hf_grammar
from physics_llm.models.hf_loading import load_adapter, load_base, quiet_peft
from physics_llm.models.hf_predictor import HFPredictor, parse_spec
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import TextFormat


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_lfm2(tmp_path_factory.mktemp("hf") / "base")


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory):
    """A LoRA adapter with non-zero B matrices (a fresh one is the identity) and a scene-view format."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_base(str(base))
    torch.manual_seed(1)
    with quiet_peft():
        peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "w1", "in_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    d = tmp_path_factory.mktemp("hf") / "adapter"
    peft_model.save_pretrained(d)
    (d / "text_format.json").write_text(json.dumps(TextFormat(view="scene", context=2).to_dict()))
    return d


def scene_windows(seed=3, n_windows=2, context=3):
    """A real stage-1 scene, simulated: (scene, windows (B, C, N, 6))."""
    scene = Scene.from_dict({**random_scene(seed, stage=1).to_dict(), "frames": 10})
    traj = simulate(scene).traj
    return scene, np.stack([traj[k:k + context] for k in range(1, 1 + n_windows)])


def multichar_tokenizer():
    """Tokens of several characters, as a BPE vocabulary has them; decoding joins them as they are."""
    vocab = ["<pad>", "<bos>", "<eos>", "<unk>", *"0123456789", "o", "-", " ", "\n",
             "o1", " 0", " -", "12", "00", "0\n", "x"]
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    return tok, {t: i for i, t in enumerate(vocab)}


def test_grammar_allows_exactly_the_tokens_that_continue_a_target():
    tok, ids = multichar_tokenizer()
    g = hf_grammar(tok)
    walk = g.walk
    assert set(g.texts.values()) == set(ids) - {"<pad>", "<bos>", "<eos>", "<unk>", "x"}

    def allowed(s):
        return {t for t, i in ids.items() if i in set(g.allowed(s).tolist())}

    assert allowed(start_state([1])) == {"o", "o1"}  # "o1" covers two characters of the prefix "o1 "
    assert allowed(start_state([12])) == {"o", "o1"}
    assert allowed(start_state([2])) == {"o"}
    first = walk(start_state([1]), "o1 ")  # the first number: a digit or a minus, no leading zero after it
    assert allowed(first) == set("0123456789-") | {"12"}  # not "00", nor "0\n" (the line needs six numbers)
    assert allowed(walk(first, "0")) == {" ", " 0", " -"}  # "0" is complete: only the space, maybe with more
    assert allowed(walk(first, "-")) == set("123456789") | {"12"}
    assert allowed(walk(first, "5")) == set("0123456789") | {" ", " 0", " -", "12", "00"}
    last = walk(start_state([1]), "o1 1 2 3 4 5 ")
    assert allowed(walk(last, "6")) == set("0123456789") | {"\n", "12", "00", "0\n"}
    assert allowed(walk(last, "0")) == {"\n"}
    assert allowed(walk(last, "6\n")) == {"<eos>"}  # the object view's one line is done
    assert walk(last, "6\n") == DONE
    two = walk(start_state([0, 1]), "o0 0 0 0 0 0 0")  # the scene view: o1's prefix follows o0's newline
    assert allowed(two) == {"\n"} and allowed(walk(two, "\n")) == {"o", "o1"}
    assert g.advance(last, ids["<eos>"]) == DONE and g.advance(last, ids["x"]) == DONE


def test_predictor_on_a_real_scene_returns_finite_states_and_parses_everything(base, adapter):
    p = load_predictor(f"hf:{base}@{adapter}")
    assert p.name == f"hf:{base}@{adapter}" and p.fmt == TextFormat(view="scene", context=2)  # the adapter's format
    scene, windows = scene_windows()
    pred = p.predict(scene, windows)
    assert pred.states.shape == (2, scene.n, 6) and pred.parsed.shape == (2, scene.n)
    assert np.isfinite(pred.states).all()
    assert pred.parsed.all()  # the grammar only lets well-formed lines through


def test_unconstrained_garbage_is_parsed_not_crashed_on(base):
    model, tok = load_base(str(base))
    p = HFPredictor(model, tok, TextFormat(), constrained=False)
    scene, windows = scene_windows()
    texts = p.generate_texts(["o0 c80\n", "o1 c80\n"], [[0], [1]])
    assert all(isinstance(t, str) for t in texts)
    pred = p.predict(scene, windows)
    assert pred.states.shape == (2, scene.n, 6) and np.isfinite(pred.states).all()
    # An untrained model writes no target line: every object is filled with constvel and counted unparsed.
    assert not pred.parsed.any()


def test_batched_left_padded_generation_equals_one_prompt_at_a_time():
    tok = tiny_tokenizer()
    tok.padding_side = "left"
    torch.manual_seed(0)
    p = HFPredictor(Lfm2ForCausalLM(tiny_config(len(tok))), tok, TextFormat(), batch_size=3)
    prompts = ["o0 c80\n1 2\n", "o1 c100 d1 f1 e1 m3 g0,9810\n" * 3, "o2 b1,2\n-5 7 9\n", "o3\n"]
    lines = [[0], [1], [2], [3]]
    together = p.generate_texts(prompts, lines)
    assert together == [p.generate_texts([q], [i])[0] for q, i in zip(prompts, lines)]
    assert len(set(t.split(" ", 1)[1] for t in together)) > 1  # the check above is not about constant output


def test_spec_and_loading_errors(base, adapter, tmp_path):
    for bad in ("", "@x", "x@"):
        with pytest.raises(UserError, match="hf:PATH_OR_ID or hf:BASE@ADAPTER_DIR"):
            parse_spec(bad)
    assert parse_spec("org/model@runs/a/adapter") == ("org/model", "runs/a/adapter")
    with pytest.raises(UserError, match=r"'no-such-org/no-such-model'.*not in the Hugging Face cache.*locally"):
        load_predictor("hf:no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        load_predictor(f"hf:{tmp_path / 'empty'}")
    with pytest.raises(UserError, match=f"no LoRA adapter at {tmp_path / 'none'}"):
        load_predictor(f"hf:{base}@{tmp_path / 'none'}")
    with pytest.raises(UserError, match="not a LoRA adapter directory: no adapter_config.json"):
        load_predictor(f"hf:{base}@{tmp_path / 'empty'}")
    wider = tmp_path / "wider"  # another base: the adapter's shapes do not fit it
    cfg = tiny_config(len(tiny_tokenizer()))
    cfg.hidden_size = 48
    Lfm2ForCausalLM(cfg).save_pretrained(wider)
    tiny_tokenizer().save_pretrained(wider)
    with pytest.raises(UserError, match=f"adapter {adapter} does not fit base model {wider}"):
        load_adapter(load_base(str(wider))[0], str(adapter), str(wider))


def test_constrained_decoding_with_a_byte_level_bpe_tokenizer_parses_every_object():
    """Multi-character tokens as in LFM2's tokenizer ("Ġ12", "Ċ"): a BPE trained in-process on our text."""
    from tokenizers import pre_tokenizers, trainers

    from physics_llm.text import make_examples

    scene, windows = scene_windows(seed=5)
    texts = [p + t for p, t in make_examples(scene, simulate(scene).traj)]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    tok.padding_side = "left"
    assert any(len(t) > 1 and t[0] == " " for t in hf_grammar(tok).texts.values())  # " 12": space and digits in one
    torch.manual_seed(0)
    model = Lfm2ForCausalLM(tiny_config(len(tok)))
    for view in ("object", "scene"):
        pred = HFPredictor(model, tok, TextFormat(view=view)).predict(scene, windows)
        assert pred.parsed.all() and np.isfinite(pred.states).all()
