"""A small GPT from scratch (nanoGPT's model.py, read top to bottom), plus batched greedy decoding.

The model reads digit-level tokens (text/tokenizer.py). GPTConfig is saved beside the
weights (models/checkpoint.py), so eval and the app rebuild the model from the
checkpoint alone.

Decoding is batched over prompts of different lengths: prompts are right-padded, and the
generated tokens take each row's own positions and skip the pads in attention (KVCache),
so a row gets the same tokens as it would alone. The KV cache makes each new token one
forward of length 1 (docs/DESIGN.md "Measured facts": 15 -> 280 tokens/s at batch 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from physics_llm.models.gpt_config import GPTConfig  # the model's shape, torch-free (its own module)


class KVCache:
    """Keys and values of every layer for a batch being decoded: (B, n_head, max_len, head_dim) each.

    Layout of row b: its prompt (lens[b] tokens), right pads up to prompt_len, then the
    generated tokens at prompt_len, prompt_len + 1, ... The prompts go through one causal
    forward (a real token never sees the pads after it, so no mask is needed there); the
    generated tokens skip the pad keys and take positions lens[b], lens[b] + 1, ...
    """

    def __init__(self, cfg: GPTConfig, lens: torch.Tensor, prompt_len: int, max_len: int, dtype, device):
        B, hd = lens.shape[0], cfg.n_embd // cfg.n_head
        shape = (B, cfg.n_head, max_len, hd)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.n_layer)]
        self.lens = lens.to(device)
        self.prompt_len = prompt_len
        self.pos = 0  # tokens already stored per row (pads included)

    def positions(self, T: int) -> torch.Tensor:
        """(B, T) or (1, T) position of each of the next T tokens within its own row."""
        t = torch.arange(T, device=self.lens.device)
        if self.pos == 0:
            return t[None]
        return self.lens[:, None] + (self.pos - self.prompt_len) + t[None]

    def mask(self, T: int) -> torch.Tensor | None:
        """(B, 1, T, pos+T) bool: causal and no pad keys; None for the prompt forward (plain causal)."""
        if self.pos == 0:
            return None
        q = self.pos + torch.arange(T, device=self.lens.device)[:, None]  # (T, 1)
        k = torch.arange(self.pos + T, device=self.lens.device)[None, :]  # (1, pos+T)
        real = (k[None] < self.lens[:, None, None]) | (k[None] >= self.prompt_len)  # (B, 1, pos+T)
        return ((k <= q)[None] & real)[:, None]

    def select(self, rows: torch.Tensor) -> None:
        """Keep rows `rows` (a (B',) index, repeats allowed): beam search's reorder and fan-out.

        A reorder of the same B rows copies only the rows whose source changed, and only the
        positions filled so far: most beams keep their own row from step to step."""
        rows = rows.to(self.lens.device)
        if rows.shape[0] != self.lens.shape[0]:
            self.k = [k.index_select(0, rows) for k in self.k]
            self.v = [v.index_select(0, rows) for v in self.v]
            self.lens = self.lens.index_select(0, rows)
            return
        dst = (rows != torch.arange(len(rows), device=rows.device)).nonzero()[:, 0]
        if not len(dst):
            return
        src = rows[dst]
        for t in self.k + self.v:
            t[dst, :, :self.pos] = t[src, :, :self.pos]  # the right side is gathered (a copy) first
        self.lens[dst] = self.lens[src]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, nh, T, hd) new keys/values at pos; return all of them so far (B, nh, pos+T, hd)."""
        end = self.pos + k.shape[2]
        self.k[layer][:, :, self.pos:end] = k
        self.v[layer][:, :, self.pos:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.layer, self.n_head, self.dropout = layer, cfg.n_head, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, kv_cache: KVCache | None = None, mask=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer, k, v)  # (B, nh, pos+T, hd)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=mask is None)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x, kv_cache=None, mask=None):
        x = x + self.attn(self.ln_1(x), kv_cache, mask)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg, i) for i in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: scale residual projections by depth
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs (forward + backward) per token at sequence length seq_len: PaLM's and
        nanoGPT's estimate 6N + 12 L d T, N the parameters without the position embeddings (for MFU)."""
        n = self.num_params() - self.transformer.wpe.weight.numel()
        return 6 * n + 12 * self.cfg.n_layer * self.cfg.n_embd * seq_len

    def forward(self, idx, targets=None, kv_cache: KVCache | None = None):
        """idx (B, T) long -> (logits (B, T, V), loss or None).

        targets (B, T) long, -1 = ignore; loss = mean cross-entropy over the other positions.
        With kv_cache, idx are the next T tokens after those already in the cache.
        """
        B, T = idx.shape
        start = 0 if kv_cache is None else kv_cache.pos
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than block_size {self.cfg.block_size}")
        if kv_cache is None:
            pos, mask = torch.arange(T, device=idx.device)[None], None  # (1, T)
        else:
            pos, mask = kv_cache.positions(T), kv_cache.mask(T)  # (B or 1, T), (B, 1, T, pos+T) or None
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for block in self.transformer.h:
            x = block(x, kv_cache, mask)
        if kv_cache is not None:
            kv_cache.pos += T
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def _prefill(self, prompts: list[list[int]], max_new_tokens: int, pad_id: int) -> tuple[KVCache, torch.Tensor]:
        """Right-pad the prompts, run them through one forward into a new KVCache sized for
        max_new_tokens more -> (cache, logits (B, V) after each prompt's last token)."""
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token (the tokenizer's bos)")
        device = self.lm_head.weight.device
        lens = torch.tensor([len(p) for p in prompts])
        L = int(lens.max())
        if L + max_new_tokens > self.cfg.block_size:
            raise ValueError(f"prompt of {L} tokens + {max_new_tokens} new ones exceed block_size {self.cfg.block_size}")
        idx = torch.full((len(prompts), L), pad_id, dtype=torch.long)
        for b, p in enumerate(prompts):
            idx[b, :len(p)] = torch.as_tensor(p, dtype=torch.long)
        cache = KVCache(self.cfg, lens, L, L + max_new_tokens, self.lm_head.weight.dtype, device)
        logits, _ = self(idx.to(device), kv_cache=cache)  # (B, L, V)
        return cache, logits[torch.arange(len(prompts)), lens - 1]

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int, allowed=None,
                 eos_id: int = 2, pad_id: int = 0, temperature: float = 0.0,
                 generator=None) -> list[list[int]]:
        """Greedy (temperature 0) or sampled continuation of each prompt (lists of token ids, any
        lengths) -> its new tokens. Sampling draws from softmax(logits / temperature) over the
        allowed tokens with `generator` (a torch.Generator: the same seed, the same samples).

        A row stops after it emits eos_id (kept as its last token) or after max_new_tokens.
        allowed: optional callable(new tokens so far per row) -> (B, V') bool mask of the
        tokens each row may emit next (constrained decoding, models/decoding.py); V' may be
        the tokenizer's size, smaller than vocab_size: the ids beyond it are never allowed.
        """
        if not prompts:
            return []
        device = self.lm_head.weight.device
        cache, last = self._prefill(prompts, max_new_tokens, pad_id)
        logits = last[:, None]  # (B, 1, V): each prompt's last token
        out: list[list[int]] = [[] for _ in prompts]
        done = torch.zeros(len(prompts), dtype=torch.bool)
        for step in range(max_new_tokens):
            last = _only_allowed(logits[:, -1, :], allowed, out)  # (B, V)
            if temperature > 0:
                probs = torch.softmax(last.float() / temperature, dim=-1).cpu()
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)
            else:
                nxt = last.argmax(dim=-1).cpu()  # (B,)
            nxt[done] = pad_id
            for b, (t, d) in enumerate(zip(nxt.tolist(), done.tolist())):
                if not d:
                    out[b].append(t)
            done |= nxt == eos_id
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            logits, _ = self(nxt[:, None].to(device), kv_cache=cache)  # (B, 1, V)
        return out

    @torch.no_grad()
    def generate_beam(self, prompts: list[list[int]], max_new_tokens: int, beams: int, allowed=None,
                      eos_id: int = 2, pad_id: int = 0) -> list[list[int]]:
        """Beam search: per prompt the continuation of highest total log-probability among `beams`
        kept at each step (the most likely whole target, where greedy takes the most likely next
        token: a "0" of p 0.2 loses to a "-" whose many continuations share p 0.4, though each of
        them is far less likely than "0 0 0 0 0 0"). beams=1 is greedy, token for token.

        allowed: as generate's, and it must have reorder(rows) (a list of row indices), called
        whenever the rows are re-chosen, so a grammar that keeps per-row state follows its beams
        (decoding.Rows has it).
        A beam ends at eos_id; the best finished beam is returned (the best unfinished one if none
        finished within max_new_tokens).
        """
        if beams < 1:
            raise ValueError(f"beams must be >= 1, got {beams}")
        if not prompts:
            return []
        device = self.lm_head.weight.device
        B, W = len(prompts), beams
        cache, last = self._prefill(prompts, max_new_tokens, pad_id)  # (B, V)
        fan = torch.arange(B).repeat_interleave(W)  # row r = prompt r // W, beam r % W
        cache.select(fan.to(device))
        last = last.index_select(0, fan.to(device))
        if allowed is not None:
            allowed.reorder(fan.tolist())
        score = torch.full((B, W), float("-inf"))
        score[:, 0] = 0.0  # one live beam per prompt to start: the others would repeat it
        out: list[list[int]] = [[] for _ in range(B * W)]
        done = torch.zeros(B * W, dtype=torch.bool)
        V = last.shape[-1]
        for step in range(max_new_tokens):
            logp = _only_allowed(torch.log_softmax(last.float(), dim=-1).cpu(), allowed, out)  # (B*W, V)
            # A finished beam continues only with one free pad, so it keeps its score and its place.
            logp[done] = float("-inf")
            logp[done, pad_id] = 0.0
            cand = (score.view(B * W, 1) + logp).view(B, W * V)
            top, at = cand.topk(W, dim=1)  # (B, W) sorted, best first
            parent = torch.arange(B)[:, None] * W + at // V  # (B, W) rows
            token = (at % V).view(-1)
            rows = parent.view(-1)
            score = top
            out = [out[r] + ([] if done[r] else [int(t)]) for r, t in zip(rows.tolist(), token.tolist())]
            done = done[rows] | (token == eos_id)
            if allowed is not None:
                allowed.reorder(rows.tolist())
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            cache.select(rows.to(device))
            token[done] = pad_id
            logits, _ = self(token[:, None].to(device), kv_cache=cache)
            last = logits[:, -1, :]
        best = []
        for b in range(B):
            rows_b = range(b * W, (b + 1) * W)  # sorted by score; prefer a finished beam
            fin = [r for r in rows_b if done[r] and score.view(-1)[r] > float("-inf")]
            best.append(out[fin[0] if fin else b * W])
        return best


def _only_allowed(scores: torch.Tensor, allowed, out: list[list[int]]) -> torch.Tensor:
    """(B, V) scores with -inf where allowed(out) forbids the token (and past the mask's width: the
    vocabulary's unused ids); unchanged without a grammar."""
    if allowed is None:
        return scores
    ok = torch.zeros_like(scores, dtype=torch.bool)
    mask = torch.as_tensor(allowed(out), dtype=torch.bool, device=scores.device)
    ok[:, :mask.shape[1]] = mask
    return scores.masked_fill(~ok, float("-inf"))
