"""The bar for `hydra/launcher=vectorized` (issue 21): what a skilled user writes by hand for
seeds/000's population question, "what share of 1000 initialisations of a 2-2 tanh net learns
XOR", with torch.func and nothing of nnlab.

The same training as `nnlab train -m hydra/launcher=vectorized experiment=xor_tanh
'seed=range(M)' plots=false checkpoint=false`: model k is built after torch.manual_seed(k)
(nnlab's MLP layout: Linear(2, 2), tanh, Linear(2, 2)), full-batch gradient descent at lr 1 on
the four rows of the truth table, cross-entropy, 1000 epochs; each epoch's train loss and accuracy
(the step's) and test loss and accuracy (after the step, the same four rows) of every model are
kept as tensors and written to one CSV at the end. It prints how many models solve XOR (test
accuracy 1 at the last epoch), which must equal what nnlab's run folders say.

    python scripts/torchfunc_xor.py --models 1000 --out /tmp/xor.csv
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--out", default="torchfunc_xor.csv")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny models: threads only contend (nnlab's runs use cpu_threads=1 too)

    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1, 0])
    models = []
    for seed in range(args.models):
        torch.manual_seed(seed)
        models.append(nn.Sequential(nn.Flatten(), nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2)))
    params, buffers = stack_module_state(models)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")

    def loss(p, b, inputs, labels):
        logits = functional_call(base, (p, b), (inputs,))
        return F.cross_entropy(logits, labels), logits

    step = vmap(grad_and_value(loss, has_aux=True), in_dims=(0, 0, None, None))
    evaluate = vmap(loss, in_dims=(0, 0, None, None))
    rows = torch.empty(args.epochs, 4, args.models)  # train_loss, train_acc, test_loss, test_acc
    for epoch in range(args.epochs):
        grads, (train_loss, logits) = step(params, buffers, x, y)
        params = {k: v - args.lr * grads[k] for k, v in params.items()}
        test_loss, test_logits = evaluate(params, buffers, x, y)
        rows[epoch, 0], rows[epoch, 2] = train_loss, test_loss
        rows[epoch, 1] = (logits.argmax(-1) == y).float().mean(-1)
        rows[epoch, 3] = (test_logits.argmax(-1) == y).float().mean(-1)

    with open(args.out, "w") as f:  # one row per model and epoch, as nnlab's metrics.csv files hold
        f.write("model,epoch,train_loss,train_acc,test_loss,test_acc\n")
        table = rows.permute(2, 0, 1).reshape(-1, 4).tolist()
        f.writelines(f"{i // args.epochs},{i % args.epochs + 1},{a:.6g},{b:.6g},{c:.6g},{d:.6g}\n"
                     for i, (a, b, c, d) in enumerate(table))
    solved = int((rows[-1, 3] == 1.0).sum())
    print(f"{solved} of {args.models} initialisations solve XOR; {time.perf_counter() - started:.1f} s "
          f"(after imports) -> {args.out}")


if __name__ == "__main__":
    main()
