"""PyTorch reference for `cargo bench --bench train`: trains the bench's model the same way
(LLaMA decoder: RMSNorm, SwiGLU, rotary positions, untied head; AdamW with weight decay on the
matrices only; global gradient-norm clipping; eager mode) and prints tokens/s as JSON.

    python benches/reference_train.py --width 128 --depth 4 --heads 4 --mlp 384 \
        --vocab 256 --context 128 --batch 16 --steps 40 --warmup 3 --threads 2
"""

import argparse
import json
import math
import time

import torch
from torch import nn
import torch.nn.functional as F


class Rope(nn.Module):
    def __init__(self, context, head_dim, theta=10000.0):
        super().__init__()
        inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(context, dtype=torch.float32), inv)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x):  # [batch, heads, seq, head_dim]
        seq = x.shape[2]
        cos, sin = self.cos[:seq], self.sin[:seq]
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, m = a.width, a.mlp
        self.heads = a.heads
        self.norm_1 = nn.RMSNorm(d, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.norm_2 = nn.RMSNorm(d, eps=1e-5)
        self.gate, self.up = nn.Linear(d, m, bias=False), nn.Linear(d, m, bias=False)
        self.down = nn.Linear(m, d, bias=False)
        self.rope = Rope(a.context, d // a.heads)

    def attention(self, x):
        b, s, d = x.shape
        split = lambda t: t.view(b, s, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = self.rope(split(self.q(x))), self.rope(split(self.k(x))), split(self.v(x))
        scores = q @ k.transpose(2, 3) / math.sqrt(d // self.heads)
        mask = torch.ones(s, s, dtype=torch.bool).triu(1)
        weights = scores.masked_fill(mask, float("-inf")).softmax(-1)
        return self.o((weights @ v).transpose(1, 2).reshape(b, s, d))

    def forward(self, x):
        x = x + self.attention(self.norm_1(x))
        h = self.norm_2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embedding = nn.Embedding(a.vocab, a.width)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.depth))
        self.norm = nn.RMSNorm(a.width, eps=1e-5)
        self.head = nn.Linear(a.width, a.vocab, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens):
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("width", 128), ("depth", 4), ("heads", 4), ("mlp", 384), ("vocab", 256),
                          ("context", 128), ("batch", 16), ("steps", 40), ("warmup", 3), ("threads", 2)]:
        p.add_argument(f"--{name}", type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Decoder(a)
    matrices = [p for n, p in model.named_parameters() if p.dim() == 2 and "embedding" not in n]
    others = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embedding" not in n)]
    optim = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
                              lr=3e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    data = torch.randint(0, a.vocab, (a.steps + a.warmup, a.batch, a.context + 1))
    params = sum(p.numel() for p in model.parameters())
    start = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            start = time.perf_counter()
        window = data[step]
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), window[:, 1:].reshape(-1))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "params": params,
                      "tokens_per_s": a.steps * a.batch * a.context / seconds, "loss": loss.item()}))


if __name__ == "__main__":
    main()
