"""The from-scratch GPT: shapes, loss masking, overfitting, KV-cache decoding, constrained decoding."""

import numpy as np
import pytest
import torch

from physics_llm.models.decoding import MAX_NUMBER_DIGITS, digit_grammar, max_target_tokens
from physics_llm.models.gpt import GPT, GPTConfig
from physics_llm.sim.generate import GenParams, random_scene
from physics_llm.sim.simulate import simulate
from physics_llm.text import DigitTokenizer, TextFormat, build_prompts, parse_outputs

TOK = DigitTokenizer()
TINY = GPTConfig(vocab_size=64, block_size=384, n_layer=2, n_head=4, n_embd=32)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def grammar(lines, digits=None):
    """The `allowed` callable of one generate call: the digit tokenizer's grammar over these rows."""
    return digit_grammar(TOK, digits).batch(lines)


def scrambled(cfg=TINY, seed=0, dtype=torch.float64) -> GPT:
    """A GPT with large random matrices: GPT-2's small init with tied embeddings mostly repeats the
    last token, which would make "batched == alone" checks nearly vacuous."""
    torch.manual_seed(seed)
    m = GPT(cfg).to(dtype).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            if p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return m


def greedy_alone_without_cache(m: GPT, prompt, n, eos_id=2, allowed=None):
    """Reference decoder: one prompt, the full sequence recomputed for every new token."""
    seq, out = list(prompt), []
    for _ in range(n):
        logits = m(torch.tensor([seq]))[0][0, -1]
        if allowed is not None:
            ok = torch.zeros(logits.shape, dtype=torch.bool)
            mask = torch.as_tensor(allowed([out]))[0]
            ok[:len(mask)] = mask
            logits = logits.masked_fill(~ok, float("-inf"))
        t = int(logits.argmax())
        out.append(t)
        seq.append(t)
        if t == eos_id:
            break
    return out


def test_forward_shapes_and_loss_is_mean_ce_over_kept_targets():
    torch.manual_seed(0)
    m = GPT(TINY)
    idx = torch.randint(0, TINY.vocab_size, (3, 17))
    logits, loss = m(idx)
    assert logits.shape == (3, 17, TINY.vocab_size) and loss is None
    targets = torch.randint(0, TINY.vocab_size, (3, 17))
    targets[:, :9] = -1
    _, loss = m(idx, targets)
    logp = torch.log_softmax(logits, -1)
    keep = targets != -1
    assert loss.ndim == 0 and torch.allclose(loss, -logp[keep].gather(1, targets[keep][:, None]).mean(), atol=1e-6)


def test_changing_what_an_ignored_target_scores_leaves_the_loss_equal():
    """The last input token only moves the logits of the last position (causal attention):
    with that target ignored the loss stays bit-equal; counted, it moves."""
    torch.manual_seed(0)
    m = GPT(TINY)
    idx = torch.randint(4, TINY.vocab_size, (2, 12))
    other = idx.clone()
    other[:, -1] = (idx[:, -1] + 1) % TINY.vocab_size
    targets = torch.randint(0, TINY.vocab_size, (2, 12))
    ignored = targets.clone()
    ignored[:, -1] = -1
    assert not torch.allclose(m(idx)[0][:, -1], m(other)[0][:, -1])
    assert torch.equal(m(idx, ignored)[1], m(other, ignored)[1])
    assert not torch.equal(m(idx, targets)[1], m(other, targets)[1])


def test_tiny_gpt_overfits_one_sequence():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=64, block_size=64, n_layer=1, n_head=2, n_embd=32))
    ids = torch.tensor([TOK.encode("o3 12 -5 0 981 0 0\n", bos=True, eos=True)])
    x, y = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        _, loss = m(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 3.5  # ~ln(64) at the start
    assert loss.item() < first / 20
    m.eval()
    assert TOK.decode(m.generate([ids[0, :4].tolist()], 20)[0]) == "12 -5 0 981 0 0\n"


def test_generate_batched_with_cache_equals_each_prompt_alone_recomputed():
    m = scrambled()
    prompts = [[1, 5, 6, 7], [1, 8], [1, *range(9, 30)], [1, 40, 41]]
    refs = [greedy_alone_without_cache(m, p, 25) for p in prompts]
    assert len({tuple(r) for r in refs}) == len(refs)  # the rows really differ
    assert m.generate(prompts, 25) == refs
    # Stopping at eos: pick a token row 0 emits mid-way; that row ends there (eos kept), others go on.
    eos = refs[0][10]
    refs_eos = [greedy_alone_without_cache(m, p, 25, eos_id=eos) for p in prompts]
    got = m.generate(prompts, 25, eos_id=eos)
    assert got == refs_eos
    assert got[0][-1] == eos and len(got[0]) == refs[0].index(eos) + 1
    # With the grammar: each row alone with its own grammar == all rows with one batched grammar.
    ids = [[3], [12], [0], [7]]
    alone = [greedy_alone_without_cache(m, p, 47, allowed=grammar([i])) for p, i in zip(prompts, ids)]
    assert m.generate(prompts, 47, allowed=grammar(ids)) == alone
    assert all(a[-1] == TOK.eos_id for a in alone)


def test_generate_refuses_more_tokens_than_block_size():
    m = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match="block_size 16"):
        m.generate([[1] * 10], 7)
    assert len(m.generate([[1] * 10], 6)[0]) == 6


def feed(grammar, text, row=0, rows=1):
    """Feed text char by char to one row; return the masks seen before each char (and after the last)."""
    toks, masks = [], []
    for ch in text:
        masks.append(grammar([toks if b == row else [] for b in range(rows)])[row])
        toks.append(TOK.encode(ch)[0])
    masks.append(grammar([toks if b == row else [] for b in range(rows)])[row])
    return masks


def allowed_chars(mask) -> str:
    return "".join(TOK.vocab[i] if i >= 4 else f"<{i}>" for i in np.flatnonzero(mask))


def test_grammar_object_view_line_by_hand():
    g = grammar([[3]])
    text = "o3 0 -12 5 10000 99999 -7\n"
    masks = feed(g, text)
    for ch, mask in zip(text, masks):
        assert mask[TOK.encode(ch)[0]], (ch, allowed_chars(mask))
    assert allowed_chars(masks[0]) == "o" and allowed_chars(masks[1]) == "3" and allowed_chars(masks[2]) == " "
    assert allowed_chars(masks[3]) == "0123456789-"  # a number starts with a digit or a minus
    assert allowed_chars(masks[4]) == " "  # after a leading 0 the number is over
    assert allowed_chars(masks[6]) == "123456789"  # after '-' no 0
    assert allowed_chars(masks[7]) == "0123456789 "
    assert allowed_chars(masks[25]) == "0123456789\n"  # the sixth field ends with a newline, not a space
    assert allowed_chars(masks[-1]) == "<2>"  # then eos only
    assert allowed_chars(masks[16]) == " "  # 10000 has MAX_NUMBER_DIGITS digits: nothing more
    assert MAX_NUMBER_DIGITS == 5
    assert max_target_tokens([3]) == 3 + 6 * 6 + 5 + 1 + 1


def test_grammar_scene_view_lines_in_order_and_rows_independent():
    g = grammar([[0, 1], [7]])
    text = "o0 1 2 3 4 5 6\n"
    masks = feed(g, text, row=0, rows=2)
    assert allowed_chars(masks[-1]) == "o"
    toks = [TOK.encode(ch)[0] for ch in text + "o"]
    both = g([toks, []])
    assert allowed_chars(both[0]) == "1" and allowed_chars(both[1]) == "o"
    assert max_target_tokens([0, 1]) == 2 * 45 + 1


def test_grammar_stops_a_row_that_ignored_the_mask():
    g = grammar([[2]])
    assert allowed_chars(g([TOK.encode("x")])[0]) == "<2>"


@pytest.mark.parametrize("constrained", [True, False])
def test_constrained_decoding_parses_every_object_with_random_weights(constrained):
    scene = random_scene(5)
    traj = simulate(scene, frames=12).traj
    fmt = TextFormat()
    windows = np.stack([traj[0:3], traj[6:9]])  # (2, 3, N, 6)
    prompts = [p for row in build_prompts(scene, windows, fmt) for p in row]
    m = scrambled(dtype=torch.float32)
    lines = [[i] for _ in range(2) for i in range(scene.n)]
    enc = [TOK.encode(p, bos=True) for p in prompts]
    budget = max(max_target_tokens(ids) for ids in lines)
    gen = m.generate(enc, budget, allowed=grammar(lines) if constrained else None)
    texts = [TOK.decode(t) for t in gen]
    res = parse_outputs(scene, windows, [texts[:scene.n], texts[scene.n:]], fmt)
    if constrained:
        assert res.rate == 1.0, res.stats
        assert all(g[-1] == TOK.eos_id for g in gen)  # each row ended by itself, within the bound
        assert all(t.startswith(f"o{i} ") and t.endswith("\n") for t, (i,) in zip(texts, lines))
        assert len({t.split(" ", 1)[1] for t in texts}) > 1  # the model's numbers, not one forced answer
    else:  # the same weights unconstrained write garbage: the grammar is what makes lines well-formed
        assert res.rate < 0.1


def test_constrained_decoding_scene_view_writes_every_line_in_order():
    scene = random_scene(2, params=GenParams(n_objects=(3, 3)))
    traj = simulate(scene, frames=8).traj
    fmt = TextFormat(view="scene")
    windows = np.stack([traj[1:4], traj[4:7]])  # (2, 3, 3, 6)
    m = scrambled(GPTConfig(vocab_size=64, block_size=640, n_layer=1, n_head=2, n_embd=32), dtype=torch.float32)
    enc = [TOK.encode(row[0], bos=True) for row in build_prompts(scene, windows, fmt)]
    lines = [[0, 1, 2]] * 2
    gen = m.generate(enc, max_target_tokens(lines[0]), allowed=grammar(lines))
    texts = [TOK.decode(t) for t in gen]
    assert all(g[-1] == TOK.eos_id for g in gen)
    assert [[ln.split()[0] for ln in t.splitlines()] for t in texts] == [["o0", "o1", "o2"]] * 2
    res = parse_outputs(scene, windows, [[t] for t in texts], fmt)
    assert res.rate == 1.0, res.stats


def test_residual_grammar_bounds_the_digits_of_each_field():
    """Residual targets: positions at most 3 digits (99.9 px past free flight in one frame), angle 4,
    velocities 5; written in the format's field order (vel_first: vx vy w x y angle)."""
    from physics_llm.models.decoding import field_digits

    assert field_digits("absolute") == (5,) * 6
    assert field_digits("residual") == (3, 3, 5, 5, 4, 5)
    assert field_digits("residual", "vel_first") == (5, 5, 5, 3, 3, 4)
    g = grammar([[3]], field_digits("residual", "vel_first"))
    text = "o3 12345 -12345 99999 -999 999 -9999\n"
    masks = feed(g, text)
    for ch, mask in zip(text, masks):
        assert mask[TOK.encode(ch)[0]], (ch, allowed_chars(mask))
    x_end = text.index(" 999 ")  # the space after x (-999): after its third digit only the space
    assert allowed_chars(masks[x_end]) == " "
    assert allowed_chars(masks[x_end - 1]) == "0123456789 "
    assert allowed_chars(masks[len(text) - 1]) == "\n"  # after the angle's fourth digit only the newline
