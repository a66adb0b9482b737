"""
tiny-lm: a small byte-level GPT, the editable program of recursor's `tiny-lm` task.

It is written the way nanoGPT is (one file, read top to bottom) and is deliberately vanilla:
LayerNorm, a GELU MLP, learned positions, AdamW at a constant learning rate. The known
improvements of the speedrun line have room to show here; finding which ones do is the job.

The read-only harness runs this file twice, each time in a fresh process:

    python train.py train   --data train.bin --seed S --checkpoint model.pt --progress-fd N
    python train.py predict --checkpoint model.pt --inputs x.npy --outputs logits.npy

`train` gets exactly the training bytes of the budget, in an order the harness chose from the
seed, and must learn from them. `predict` gets byte windows it has never seen and returns
next-byte logits for every position; the harness scores them itself. The program never sees
the validation data while it trains and never computes its own score.
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# -----------------------------------------------------------------------------
# hyperparameters

vocab_size = 256  # bytes
n_layer = 4
n_head = 4
n_embd = 64
block_size = 64  # context length in bytes
batch_size = 32  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate = 1e-3
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
log_every = 10  # steps between two points of the progress curve

# -----------------------------------------------------------------------------
# model


class LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(n_embd, dim=2)
        q = q.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
        v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = self.c_fc(x)
        x = F.gelu(x)
        return self.c_proj(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = LayerNorm(n_embd)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
        self.ln_f = LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch adds to the stream, so shrink its output
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        B, T = idx.size()
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        logits = self.lm_head(x)
        return logits


# -----------------------------------------------------------------------------
# optimisation


class AdamW:
    """AdamW (Loshchilov & Hutter, 2019) written out: torch.optim.AdamW's arithmetic on a CPU,
    operation for operation (the same numbers to the bit), without the import of
    torch._dynamo that torch.optim does on its first call (~2 s of every run at this size)."""

    def __init__(self, groups, lr, betas, eps=1e-8):
        self.param_groups = [{"lr": lr, "betas": betas, "eps": eps, **group} for group in groups]
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {"step": 0, "m": torch.zeros_like(p),
                                                  "v": torch.zeros_like(p)})
                state["step"] += 1
                if wd != 0:
                    p.mul_(1 - lr * wd)  # decoupled weight decay
                state["m"].lerp_(p.grad, 1 - b1)
                state["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                step_size = lr / (1 - b1 ** state["step"])
                denom = (state["v"].sqrt() / (1 - b2 ** state["step"]) ** 0.5).add_(eps)
                p.addcdiv_(state["m"], denom, value=-step_size)


def configure_optimizer(model):
    # weight decay on matrices only, as in nanoGPT: norms and biases are left alone
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return AdamW(groups, lr=learning_rate, betas=(beta1, beta2))


def get_lr(step, total_steps):
    return learning_rate  # a constant schedule: no warmup, no decay


def compute_loss(logits, targets):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# -----------------------------------------------------------------------------
# the two entry points the harness calls


def train(args):
    torch.manual_seed(args.seed)
    data = torch.from_numpy(np.fromfile(args.data, dtype=np.uint8).astype(np.int64))
    tokens_per_step = batch_size * block_size
    total_steps = (len(data) - 1) // tokens_per_step
    progress = os.fdopen(args.progress_fd, "w", buffering=1) if args.progress_fd else None

    model = GPT()
    optimizer = configure_optimizer(model)
    model.train()
    t0 = time.time()
    for step in range(total_steps):
        # the stream is consumed once, in the harness's order: batch_size rows of block_size
        start = step * tokens_per_step
        chunk = data[start : start + tokens_per_step + 1]
        x = chunk[:-1].view(batch_size, block_size)
        y = chunk[1:].view(batch_size, block_size)

        lr = get_lr(step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = model(x)
        loss = compute_loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()

        if progress and (step % log_every == 0 or step == total_steps - 1):
            point = {
                "step": step + 1,
                "tokens": (step + 1) * tokens_per_step,
                "train_loss": loss.item(),
                "lr": lr,
                "elapsed": time.time() - t0,
            }
            progress.write(json.dumps(point) + "\n")
    torch.save(model.state_dict(), args.checkpoint)


@torch.no_grad()
def predict(args):
    model = GPT()
    model.load_state_dict(torch.load(args.checkpoint, weights_only=True))
    model.eval()
    inputs = torch.from_numpy(np.load(args.inputs).astype(np.int64))
    outputs = np.empty((*inputs.shape, vocab_size), dtype=np.float32)
    # windows longer than the context are read in independent chunks of block_size bytes
    for i in range(0, inputs.size(0), 64):
        for t in range(0, inputs.size(1), block_size):
            x = inputs[i : i + 64, t : t + block_size]
            outputs[i : i + 64, t : t + block_size] = model(x).float().numpy()
    np.save(args.outputs, outputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--data", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--progress-fd", type=int, default=0)
    p = sub.add_parser("predict")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--outputs", required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("RECURSOR_THREADS", "1")))
    train(args) if args.command == "train" else predict(args)


if __name__ == "__main__":
    main()
