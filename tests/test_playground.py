"""models/playground.py against TensorFlow Playground's own rule, written out point by point.

`NnTs` below is src/nn.ts (tensorflow/playground at HEAD) in numpy, float64: forwardProp and
backProp per point, accumulating the derivatives, and updateWeights after every batch, link by
link, as playground.ts's oneStep calls them. nnlab's PlaygroundNet + PlaygroundSGD, trained
through the engine's own epoch loop from the same starting weights, must end at the same weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nnlab.errors import UserError
from nnlab.losses import mse_onehot
from nnlab.models.playground import PlaygroundNet, PlaygroundSGD
from nnlab.runs import load_trained
from nnlab.train.engine import Learner, evaluate, train_one_epoch
from nnlab.train.steps import TrainStep
from train_helpers import in_tmp_folder, nnlab_train  # noqa: F401 - in_tmp_folder is autouse

pytestmark = pytest.mark.usefixtures("one_thread")

ACTIVATION = {  # nn.ts Activations: output, der (of the total input)
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
}
REGULARIZATION_DER = {"l1": lambda w: -1.0 if w < 0 else (1.0 if w > 0 else 0.0),
                      "l2": lambda w: w, "none": None}


class NnTs:
    """nn.ts's network: weights[l][i, j] is the link from node j of layer l to node i of l + 1."""

    def __init__(self, weights, biases, activation: str, regularization: str):
        self.w = [np.array(w, dtype=np.float64) for w in weights]
        self.b = [np.array(b, dtype=np.float64) for b in biases]
        self.dead = [np.zeros(w.shape, dtype=bool) for w in self.w]
        self.acc_w = [np.zeros_like(w) for w in self.w]
        self.acc_b = [np.zeros_like(b) for b in self.b]
        self.count = 0  # numAccumulatedDers (the same for every live link and node)
        self.activation, self.regularization = ACTIVATION[activation], regularization

    def forward_prop(self, inputs):
        outputs, totals = [np.asarray(inputs, dtype=np.float64)], []
        for layer, (w, b) in enumerate(zip(self.w, self.b, strict=True)):
            total = b + w @ outputs[-1]  # updateOutput: bias + sum of weight * source output
            f = np.tanh if layer == len(self.w) - 1 else self.activation[0]  # output unit: TANH
            totals.append(total)
            outputs.append(f(total))
        return outputs, totals

    def back_prop(self, inputs, target: float) -> None:
        outputs, totals = self.forward_prop(inputs)
        output_der = outputs[-1] - target  # Errors.SQUARE.der
        for layer in reversed(range(len(self.w))):
            der = (lambda x: 1 - np.tanh(x) ** 2) if layer == len(self.w) - 1 else self.activation[1]
            input_der = output_der * der(totals[layer])
            self.acc_b[layer] += input_der  # accInputDer
            live = ~self.dead[layer]  # dead links accumulate nothing
            self.acc_w[layer] += np.where(live, np.outer(input_der, outputs[layer]), 0.0)
            output_der = self.w[layer].T @ input_der  # sum of weight * dest.inputDer
        self.count += 1

    def update_weights(self, lr: float, rate: float) -> None:
        reg_der = REGULARIZATION_DER[self.regularization]
        for layer, w in enumerate(self.w):
            self.b[layer] -= lr * self.acc_b[layer] / self.count
            for i, j in np.ndindex(w.shape):
                if self.dead[layer][i, j]:
                    continue
                regul_der = reg_der(w[i, j]) if reg_der else 0.0
                w[i, j] = w[i, j] - (lr / self.count) * self.acc_w[layer][i, j]
                new = w[i, j] - (lr * rate) * regul_der
                if self.regularization == "l1" and w[i, j] * new < 0:
                    w[i, j] = 0.0
                    self.dead[layer][i, j] = True
                else:
                    w[i, j] = new
            self.acc_w[layer][:] = 0
            self.acc_b[layer][:] = 0
        self.count = 0

    def one_step(self, points, labels, batch_size: int, lr: float, rate: float) -> None:
        """playground.ts oneStep: an epoch over the training points in their order."""
        for i, (point, label) in enumerate(zip(points, labels, strict=True)):
            self.back_prop(point, label)
            if (i + 1) % batch_size == 0:
                self.update_weights(lr, rate)

    def loss(self, points, labels) -> float:
        """getLoss: 0.5 (output - label)^2 averaged over the points."""
        return float(np.mean([0.5 * (self.forward_prop(p)[0][-1][0] - t) ** 2
                              for p, t in zip(points, labels, strict=True)]))


def linears(model: PlaygroundNet) -> list[torch.nn.Linear]:
    return [m for m in model if isinstance(m, torch.nn.Linear)]


def weights_of(model: PlaygroundNet) -> list[np.ndarray]:
    return [p.detach().double().numpy() for layer in linears(model) for p in (layer.weight, layer.bias)]


def points(n: int = 20, seed: int = 0):
    """20 points with three inputs, labels 0/1 (nnlab) and -1/+1 (Playground)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 3))
    y = (x[:, 0] * x[:, 1] + 0.5 * x[:, 2] > 0).astype(np.int64)
    return x, y, 2.0 * y - 1.0


@pytest.mark.parametrize("regularization,rate", [("none", 0.0), ("l2", 0.1), ("l1", 0.1)])
def test_weights_follow_playgrounds_update_point_by_point(regularization, rate):
    lr, batch_size, epochs = 0.3, 5, 3
    torch.manual_seed(0)
    model = PlaygroundNet((3,), 2, hidden=[4, 3], activation="sigmoid")
    if regularization == "l1":
        with torch.no_grad():  # a small weight the regulariser's first step carries across zero
            linears(model)[1].weight[0, 0] = 0.004
    start = weights_of(model)
    reference = NnTs(start[0::2], start[1::2], "sigmoid", regularization)
    x, y, target = points()
    optimizer = PlaygroundSGD(model.parameters(), lr=lr, regularization=regularization,
                              regularization_rate=rate)
    data = torch.from_numpy(x).float()
    batches = [(data[i:i + batch_size], torch.from_numpy(y[i:i + batch_size]))
               for i in range(0, len(y), batch_size)]
    for epoch in range(1, epochs + 1):
        train_one_epoch(Learner(model, optimizer), TrainStep(mse_onehot), batches, epoch)
        reference.one_step(x, target, batch_size, lr, rate)

    ours, theirs = weights_of(model), [a for pair in zip(reference.w, reference.b, strict=True)
                                       for a in pair]
    for got, want in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert not np.allclose(ours[0], start[0], atol=1e-3)  # it did train
    if regularization == "l1":
        dead = [optimizer.state[layer.weight]["dead"].numpy() for layer in linears(model)]
        assert any(d.any() for d in reference.dead), "the test meant a link to die"
        for ours_dead, theirs_dead, w in zip(dead, reference.dead, ours[0::2], strict=True):
            np.testing.assert_array_equal(ours_dead, theirs_dead)
            assert (w[ours_dead] == 0).all()  # dead links stay exactly at 0
    # the loss nnlab reports is Playground's getLoss, the accuracy the sign of the output
    loss, acc = evaluate(model, [(data, torch.from_numpy(y))], mse_onehot)
    assert loss == pytest.approx(reference.loss(x, target), abs=1e-6)
    outputs = np.array([reference.forward_prop(p)[0][-1][0] for p in x])
    assert acc == pytest.approx(float(np.mean((outputs > 0) == (y == 1))))


def test_biases_are_never_regularised_and_l2_shrinks_weights_without_gradient():
    torch.manual_seed(1)
    model = PlaygroundNet((2,), 2, hidden=[3], activation="tanh")
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = PlaygroundSGD(model.parameters(), lr=0.5, regularization="l2", regularization_rate=0.2)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for b, p in zip(before, model.parameters(), strict=True):
        expected = b * (1 - 0.5 * 0.2) if p.dim() > 1 else b
        torch.testing.assert_close(p.detach(), expected)


def test_dead_links_survive_a_checkpoint():
    torch.manual_seed(2)
    model = PlaygroundNet((2,), 2, hidden=[3], activation="tanh")
    optimizer = PlaygroundSGD(model.parameters(), lr=1.0, regularization="l1", regularization_rate=1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # every weight |w| <= 0.5 < lr * rate: all die
    fresh = PlaygroundSGD(model.parameters(), lr=1.0, regularization="l1", regularization_rate=1.0)
    fresh.load_state_dict(optimizer.state_dict())
    first = linears(model)[0].weight
    assert fresh.state[first]["dead"].all() and (first == 0).all()
    first.grad = torch.ones_like(first)
    fresh.step()
    assert (first == 0).all()  # dead: the gradient step is skipped too


def test_init_and_output_are_playgrounds():
    torch.manual_seed(3)
    model = PlaygroundNet((7,), 2, hidden=[8, 8, 8], activation="relu")
    for layer in linears(model):
        assert layer.weight.abs().max() <= 0.5 and layer.weight.std() > 0.2  # U[-0.5, 0.5]
        assert (layer.bias == 0.1).all()
    assert linears(model)[-1].out_features == 1
    x = torch.randn(6, 7)
    scores = model(x)
    torch.testing.assert_close(scores[:, 0], -scores[:, 1])
    o = model.output(x)
    torch.testing.assert_close(scores.softmax(1)[:, 1], (1 + o) / 2)  # the heatmap's value
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    torch.testing.assert_close(mse_onehot(scores, y), (0.5 * (o - (2 * y - 1)) ** 2).mean())


def test_more_than_two_classes_is_one_line():
    with pytest.raises(UserError, match="one tanh output unit"):
        PlaygroundNet((1, 28, 28), 10)


def test_the_command_reports_playgrounds_losses_after_each_epoch():
    """model=playground: metrics.csv's train_loss is the trained model's loss on the whole training
    split after the epoch (train_metrics=after_epoch), as the site shows it."""
    assert nnlab_train("model=playground", "dataset=circle", "dataset.n_samples=60", "epochs=3",
                       "optimizer.regularization=l1", "optimizer.regularization_rate=0.01",
                       "probe=[boundary]", "hydra.run.dir=run") == 0
    last = pd.read_csv("run/metrics.csv").iloc[-1]
    trained = load_trained("run", "last")
    loss, acc = evaluate(trained.model, [(trained.data.train.x, trained.data.train.y)], mse_onehot)
    assert last["train_loss"] == pytest.approx(loss, abs=1e-6)
    assert last["train_acc"] == pytest.approx(acc)
    snapshots = pd.read_csv("run/boundary_snapshots.csv")  # the probe reads the sign of the output
    assert snapshots["train_acc"].iloc[-1] == pytest.approx(acc)
    assert Path("run/plots/decision_boundary.png").stat().st_size > 10_000
