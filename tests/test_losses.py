"""The losses (cross-entropy, the one-hot squared error) and the L1 penalty, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nnlab.errors import UserError
from nnlab.losses import l1_penalty, make_loss, mse_onehot

# --- losses ------------------------------------------------------------------------------------


LOGITS = [[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]]
TARGET = [1, 2]


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_mse_onehot_by_hand():
    per_row = []
    for row, t in zip(LOGITS, TARGET, strict=True):
        p = _softmax(row)
        per_row.append(sum((p[k] - (1.0 if k == t else 0.0)) ** 2 for k in range(3)))
    expected = sum(per_row) / len(per_row)  # summed over classes, averaged over the batch
    got = mse_onehot(torch.tensor(LOGITS), torch.tensor(TARGET))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert make_loss("mse") is mse_onehot


def test_mse_onehot_is_zero_for_confident_right_answers_and_two_for_wrong_ones():
    logits = torch.tensor([[100.0, 0.0], [0.0, 100.0]])
    assert mse_onehot(logits, torch.tensor([0, 1])).item() == pytest.approx(0.0, abs=1e-6)
    assert mse_onehot(logits, torch.tensor([1, 0])).item() == pytest.approx(2.0, abs=1e-6)


def test_cross_entropy_by_hand():
    pairs = zip(LOGITS, TARGET, strict=True)
    expected = sum(-math.log(_softmax(row)[t]) for row, t in pairs) / 2
    got = make_loss("cross_entropy")(torch.tensor(LOGITS), torch.tensor(TARGET))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_unknown_loss_is_a_user_error():
    with pytest.raises(UserError, match=r"^loss: .*'mse2'.*did you mean 'mse'"):
        make_loss("mse2")


def test_l1_penalty_counts_only_weight_matrices_and_kernels():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1),
                          nn.Conv2d(1, 2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]))  # |.| = 7.5
        model[0].bias.fill_(100.0)
        model[1].weight.fill_(50.0)
        model[1].bias.fill_(-50.0)
        model[3].weight.copy_(torch.tensor([[-0.25, 0.25, 1.0]]))  # |.| = 1.5
        model[3].bias.fill_(-100.0)
        model[4].weight.fill_(-0.5)  # 2*1*2*2 = 8 entries -> 4.0
        model[4].bias.fill_(9.0)
    penalty = l1_penalty(model)
    assert penalty.item() == pytest.approx(7.5 + 1.5 + 4.0)
    penalty.backward()
    assert model[0].weight.grad is not None and model[0].bias.grad is None
    torch.testing.assert_close(model[3].weight.grad, torch.tensor([[-1.0, 1.0, 1.0]]))


