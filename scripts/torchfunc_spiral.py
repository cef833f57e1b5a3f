"""The bar for `hydra/launcher=vectorized` (issue 21) on nnlab's default experiment: what a skilled
user writes by hand with torch.func, and nothing of nnlab, for a seeds x learning rates sweep.

The same training as `nnlab train -m 'seed=range(N)' optimizer.lr=0.1,0.03,0.01,0.003 plots=false
cpu_threads=1 progress=false hydra/launcher=vectorized` (N x 4 jobs; README's population example
is N=200 with dataset.seed=0, here --data-seed 0):

- data: TensorFlow Playground's spiral (nnlab.data.toys.spiral, written out below), 500 points,
  noise 0, drawn with numpy's default_rng(data seed), shuffled with the same generator and split
  into 250 train rows and 250 test rows (--val-fraction F holds out round(250 F) of the train
  rows for validation, as dataset.val_fraction does); the data seed is the job's seed unless
  pinned, so the models of one seed share their data and the seeds differ;
- model: after torch.manual_seed(seed), nnlab's MLP with its defaults: Flatten, Linear(2, 16),
  ReLU, Linear(16, 16), ReLU, Linear(16, 2), PyTorch's default init;
- training: 100 epochs of minibatches of 32 (the last one of 26 rows), the rows in an order drawn
  each epoch with torch.randperm from a generator seeded with the job's seed (nnlab's batcher),
  cross-entropy, Adam (betas 0.9, 0.999, eps 1e-8) written out on the stacked tensors with a
  per-model learning rate; all M = N x len(lrs) models in one vmap(grad_and_value(loss)) per step
  over [M, B, 2] batches;
- records: each epoch's train loss and accuracy (the mean over the epoch's steps, nnlab's
  train_metrics=during_epoch) and the loss and accuracy of every model on its own val (when there
  is one) and test rows after the epoch, kept as tensors and written to one CSV at the end, a row
  per model and epoch (the metrics columns of nnlab's metrics.csv, after model, seed and lr; val_loss
  and val_acc empty without a validation split, as there).

It prints the mean final test accuracy per learning rate and the time after imports.

    python scripts/torchfunc_spiral.py --seeds 16 --out /tmp/spiral64.csv
    python scripts/torchfunc_spiral.py --seeds 200 --data-seed 0 --out /tmp/spiral800.csv
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap


def spiral_splits(seed: int, n: int = 500, train_fraction: float = 0.5, val_fraction: float = 0.0):
    """nnlab's dataset=spiral: two arms r = 5i/m, t = 1.75*2*pi*i/m (+pi for class 0), shuffled,
    then split; {name: (x [rows, 2] float32, y [rows] int64)}."""
    rng = np.random.default_rng(seed)
    arms = []
    for delta, label, count in ((0.0, 1, n // 2), (math.pi, 0, n - n // 2)):
        i = np.arange(count)
        r, t = i / count * 5, 1.75 * i / count * 2 * math.pi + delta
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        xy += rng.uniform(-1, 1, (count, 2)) * 0.0  # noise 0; drawn all the same, as nnlab does
        arms.append((xy, np.full(count, label, np.int64)))
    pts, labels = np.concatenate([a[0] for a in arms]), np.concatenate([a[1] for a in arms])
    order = rng.permutation(n)
    x, y = torch.from_numpy(pts[order]).float(), torch.from_numpy(labels[order])
    n_train = int(math.floor(round(n * train_fraction, 6)))
    n_val = int(round(n_train * val_fraction))
    cuts = {"train": slice(0, n_train - n_val), "val": slice(n_train - n_val, n_train),
            "test": slice(n_train, None)}
    return {k: (x[s], y[s]) for k, s in cuts.items() if k != "val" or n_val > 0}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16, help="seeds 0..N-1 (nnlab's seed=range(N))")
    parser.add_argument("--lrs", default="0.1,0.03,0.01,0.003", help="Adam learning rates")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-seed", type=int, default=None,
                        help="pin the data seed (nnlab's dataset.seed); default: each job's seed")
    parser.add_argument("--val-fraction", type=float, default=0.0, help="nnlab's dataset.val_fraction")
    parser.add_argument("--out", default="torchfunc_spiral.csv")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny models: threads only contend (nnlab's sweep runs cpu_threads=1)

    lrs = [float(v) for v in args.lrs.split(",")]
    seeds = list(range(args.seeds))
    size = len(seeds) * len(lrs)  # model k: seed k // len(lrs), lr lrs[k % len(lrs)] (nnlab's job order)
    model_seed = torch.tensor(seeds).repeat_interleave(len(lrs))
    lr = torch.tensor(lrs).repeat(len(seeds))

    # Data: one copy per data seed, concatenated; model k reads its seed's rows through an offset.
    data_seeds = seeds if args.data_seed is None else [args.data_seed]
    per_seed = [spiral_splits(s, val_fraction=args.val_fraction) for s in data_seeds]
    splits = {name: (torch.cat([d[name][0] for d in per_seed]), torch.cat([d[name][1] for d in per_seed]))
              for name in per_seed[0]}
    n = {name: len(y) // len(per_seed) for name, (_, y) in splits.items()}
    data_index = model_seed if args.data_seed is None else torch.zeros(size, dtype=torch.long)
    evaluated = {name: (x.view(len(per_seed), -1, 2)[data_index], y.view(len(per_seed), -1)[data_index])
                 for name, (x, y) in splits.items() if name != "train"}  # [M, rows, 2], [M, rows]
    train_x, train_y = splits["train"]
    offsets = (data_index * n["train"])[:, None]

    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Flatten(), nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                            nn.Linear(16, 2))
        models += [net] + [copy.deepcopy(net) for _ in lrs[1:]]  # the lrs of a seed share its init
    params, buffers = stack_module_state(models)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    orders = [torch.Generator().manual_seed(seed) for seed in seeds]  # each job's batcher generator

    def loss(p, b, inputs, labels):
        logits = functional_call(base, (p, b), (inputs,))
        return F.cross_entropy(logits, labels), logits

    step = vmap(grad_and_value(loss, has_aux=True))
    evaluate = vmap(loss)

    # Adam (torch.optim.Adam's update, betas 0.9/0.999, eps 1e-8), each model at its own rate.
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    exp_avg = {k: torch.zeros_like(v) for k, v in params.items()}
    exp_avg_sq = {k: torch.zeros_like(v) for k, v in params.items()}
    rates = {k: lr.view(-1, *[1] * (v.dim() - 1)) for k, v in params.items()}
    t = 0

    columns = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]
    rows = torch.full((args.epochs, len(columns), size), math.nan)  # val stays empty without a val split
    for epoch in range(args.epochs):
        order = torch.stack([torch.randperm(n["train"], generator=g) for g in orders])
        order = order.repeat_interleave(len(lrs), dim=0) + offsets  # [M, n_train], rows of train_x
        loss_sum, correct = torch.zeros(size), torch.zeros(size)
        for start in range(0, n["train"], args.batch_size):
            index = order[:, start:start + args.batch_size]
            x, y = train_x[index], train_y[index]  # [M, B, 2], [M, B]
            grads, (batch_loss, logits) = step(params, buffers, x, y)
            t += 1
            bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
            for k, p in params.items():
                g = grads[k]
                exp_avg[k].mul_(beta1).add_(g, alpha=1 - beta1)
                exp_avg_sq[k].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (exp_avg_sq[k].sqrt() / math.sqrt(bias2)).add_(eps)
                p.sub_(rates[k] / bias1 * exp_avg[k] / denom)
            loss_sum += batch_loss * y.shape[1]
            correct += (logits.argmax(-1) == y).sum(-1)
        rows[epoch, 0], rows[epoch, 1] = loss_sum / n["train"], correct / n["train"]
        with torch.no_grad():
            for name, (x, y) in evaluated.items():
                split_loss, logits = evaluate(params, buffers, x, y)
                rows[epoch, columns.index(f"{name}_loss")] = split_loss
                rows[epoch, columns.index(f"{name}_acc")] = (logits.argmax(-1) == y).float().mean(-1)

    with open(args.out, "w") as f:  # one row per model and epoch, as nnlab's metrics.csv files hold
        f.write(",".join(["model", "seed", "lr", "epoch", *columns]) + "\n")
        table = rows.permute(2, 0, 1).reshape(-1, len(columns)).tolist()
        for i, values in enumerate(table):
            k = i // args.epochs
            f.write(f"{k},{seeds[k // len(lrs)]},{lrs[k % len(lrs)]:g},{i % args.epochs + 1},"
                    + ",".join("" if math.isnan(v) else f"{v:.6g}" for v in values) + "\n")
    final = rows[-1, columns.index("test_acc")].view(len(seeds), len(lrs)).mean(0)
    print(f"{size} models, final test_acc mean per lr: "
          + ", ".join(f"{r:g}: {a:.4f}" for r, a in zip(lrs, final.tolist(), strict=True))
          + f"; {time.perf_counter() - started:.1f} s (after imports) -> {args.out}")


if __name__ == "__main__":
    main()
