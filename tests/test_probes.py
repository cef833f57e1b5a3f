"""Image probes (confusion, first_layer, misclassified, shift) on a synthetic 8x8 image dataset.

Class k of the dataset is a bright 2x2 block at a fixed place (top-left, centre, bottom-right) on
noise, so a template-matching Linear layer gets most of the test set right, some wrong, and loses
its accuracy when the images are shifted.
"""

from __future__ import annotations

import csv
import itertools

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from torch import nn

from nnlab.data.dataset import Dataset, Split, pixels
from nnlab.errors import UserError
from nnlab.probes import ProbeContext
from nnlab.probes.confusion import ConfusionMatrix
from nnlab.probes.first_layer import FirstLayerWeights
from nnlab.probes.misclassified import MisclassifiedExamples
from nnlab.probes.shift import ShiftInvariance, translate

NAMES = ["top-left", "centre", "bottom-right"]
CORNERS = [(1, 1), (3, 3), (5, 5)]  # top-left pixel of each class's 2x2 block


def templates(channels: int = 1) -> torch.Tensor:
    t = torch.zeros(3, channels, 8, 8)
    for k, (r, c) in enumerate(CORNERS):
        t[k, :, r:r + 2, c:c + 2] = 1
    return t


def make_split(n: int, noise: int, seed: int, channels: int = 1) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = templates(channels)[y] * 60 + torch.randint(0, noise + 1, (n, channels, 8, 8), generator=g)
    return Split(x.clamp(0, 255).to(torch.uint8), y)


def image_data(n_test: int = 300, noise: int = 200, channels: int = 1) -> Dataset:
    return Dataset(name="blocks", train=make_split(60, noise, 1, channels),
                   test=make_split(n_test, noise, 2, channels), num_classes=3,
                   input_shape=(channels, 8, 8), class_names=list(NAMES),
                   mean=(0.5,) * channels, std=(0.5,) * channels)


def template_model(channels: int = 1) -> nn.Sequential:
    """Linear(64 * channels, 3) whose rows are the class templates: translation-sensitive."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64 * channels, 3))
    with torch.no_grad():
        model[1].weight.copy_(templates(channels).reshape(3, -1))
        model[1].bias.zero_()
    return model


def tiny_conv(channels: int = 1) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 4 * 4, 3))


def run_probe(probe, data: Dataset, model: nn.Module, tmp_path, epochs: int = 2):
    probe.start(ProbeContext(data, epochs, 1, torch.device("cpu"), tmp_path))
    for epoch in range(1, epochs + 1):
        probe.after_epoch(epoch, model)
    probe.finish()
    return probe


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.eval()(pixels(x)).softmax(1)


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assert_real_png(path, min_side: int = 200) -> np.ndarray:
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= min_side
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # not a flat colour
    assert (rgb.min(axis=2) < 0.9).mean() > 0.02  # some ink beyond the white background
    return image


# --- translate ---------------------------------------------------------------------------------


def reference_translate(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Pixel by pixel: out[y, x] = in[y - dy, x - dx] where that exists, else 0."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    for y, x in itertools.product(range(h), range(w)):
        if 0 <= y - dy < h and 0 <= x - dx < w:
            out[..., y, x] = images[..., y - dy, x - dx]
    return out


def test_translate_small_example_by_hand():
    image = torch.tensor([[1, 2, 3],
                          [4, 5, 6]], dtype=torch.uint8)[None, None]
    right = torch.tensor([[0, 1, 2],
                          [0, 4, 5]], dtype=torch.uint8)
    down_left = torch.tensor([[0, 0, 0],
                              [2, 3, 0]], dtype=torch.uint8)
    assert torch.equal(translate(image, 1, 0)[0, 0], right)
    assert torch.equal(translate(image, -1, 1)[0, 0], down_left)
    assert translate(image, 1, 0).dtype == torch.uint8


@pytest.mark.parametrize("dx,dy", [(dx, dy) for dx in range(-6, 7, 2) for dy in (-5, -1, 0, 1, 3, 5)]
                         + [(1, 1), (-3, 2)])
def test_translate_matches_pixel_by_pixel_reference(dx, dy):
    images = torch.randint(1, 256, (2, 3, 5, 6), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    moved = translate(images, dx, dy)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    assert torch.equal(moved, reference_translate(images, dx, dy))
    # every pixel that came in from outside is zero; every image pixel still in frame kept its value
    expected_zeros = images.shape[0] * images.shape[1] * (5 * 6 - max(0, 5 - abs(dy)) * max(0, 6 - abs(dx)))
    assert int((moved == 0).sum()) == expected_zeros


def test_translate_by_zero_copies_and_past_the_edge_blanks():
    images = torch.rand(2, 1, 4, 4)
    same = translate(images, 0, 0)
    assert torch.equal(same, images) and same.data_ptr() != images.data_ptr()
    assert not translate(images, 4, 0).any() and not translate(images, 0, -7).any()
    assert torch.equal(images, images.clone())  # input untouched


# --- confusion ---------------------------------------------------------------------------------


def test_confusion_matrix_counts_match_independent_predictions(tmp_path):
    data, model = image_data(), template_model()
    run_probe(ConfusionMatrix(), data, model, tmp_path)
    rows = read_csv(tmp_path / "confusion_matrix.csv")
    with open(tmp_path / "confusion_matrix.csv") as f:
        header = next(csv.reader(f))
    assert header == ["true", *NAMES]
    assert [r["true"] for r in rows] == NAMES
    matrix = np.array([[int(r[name]) for name in NAMES] for r in rows])

    pred = predictions(model, data.test.x).argmax(1)
    correct = pred == data.test.y
    assert 0 < int(correct.sum()) < len(data.test)  # some right, some wrong: the test means something
    assert matrix.sum() == len(data.test)
    for k in range(3):
        assert matrix[k, k] == int((correct & (data.test.y == k)).sum())
        for j in range(3):
            assert matrix[k, j] == int(((data.test.y == k) & (pred == j)).sum())
    assert_real_png(tmp_path / "plots" / "confusion_matrix.png")


# --- misclassified -----------------------------------------------------------------------------


def test_misclassified_lists_exactly_the_wrong_predictions(tmp_path):
    data, model = image_data(), template_model()
    run_probe(MisclassifiedExamples(count=7), data, model, tmp_path)
    rows = read_csv(tmp_path / "misclassified.csv")
    probs = predictions(model, data.test.x)
    confidence, pred = probs.max(1)
    wrong = torch.nonzero(pred != data.test.y).flatten().tolist()
    assert len(wrong) > 7  # more than the grid shows: the CSV must still list them all
    assert [int(r["index"]) for r in rows] == wrong
    for r in rows:
        i = int(r["index"])
        assert r["true"] == NAMES[data.test.y[i]] and r["predicted"] == NAMES[pred[i]]
        assert r["true"] != r["predicted"]
        assert float(r["confidence"]) == pytest.approx(float(confidence[i]), abs=1e-5)
    assert_real_png(tmp_path / "plots" / "misclassified.png")


def test_misclassified_with_none_wrong_writes_an_empty_table_and_a_note(tmp_path):
    data, model = image_data(noise=0), template_model()  # noise-free: the templates are exact
    run_probe(MisclassifiedExamples(), data, model, tmp_path)
    assert read_csv(tmp_path / "misclassified.csv") == []
    assert (tmp_path / "misclassified.csv").read_text().strip() == "index,true,predicted,confidence"
    assert_real_png(tmp_path / "plots" / "misclassified.png", min_side=150)


# --- first layer -------------------------------------------------------------------------------


def check_unit_rows(rows: list[dict], units: torch.Tensor) -> None:
    flat = units.reshape(len(units), -1).double()
    assert [int(r["unit"]) for r in rows] == list(range(len(units)))
    for r, w in zip(rows, flat, strict=True):
        assert float(r["l2_norm"]) == pytest.approx(float(w.norm()), rel=1e-5)
        assert float(r["mean"]) == pytest.approx(float(w.mean()), rel=1e-5, abs=1e-7)
        assert float(r["std"]) == pytest.approx(float(w.std(correction=0)), rel=1e-5)
        assert float(r["min"]) == pytest.approx(float(w.min()), rel=1e-5)
        assert float(r["max"]) == pytest.approx(float(w.max()), rel=1e-5)


def test_first_layer_linear_one_row_per_unit_with_its_norm(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 3))
    run_probe(FirstLayerWeights(max_units=6), image_data(), model, tmp_path)
    rows = read_csv(tmp_path / "first_layer_weights.csv")
    assert len(rows) == 10  # every unit, not just the 6 drawn
    check_unit_rows(rows, model[1].weight.detach())
    assert_real_png(tmp_path / "plots" / "first_layer_weights.png")


def test_first_layer_conv_uses_each_kernel(tmp_path):
    model = tiny_conv()
    run_probe(FirstLayerWeights(), image_data(), model, tmp_path)
    rows = read_csv(tmp_path / "first_layer_weights.csv")
    assert len(rows) == 6
    check_unit_rows(rows, model[0].weight.detach())  # (6, 1, 3, 3) kernels, not the later Linear
    assert_real_png(tmp_path / "plots" / "first_layer_weights.png")


def test_first_layer_is_the_first_in_module_order_even_when_nested(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Sequential(nn.Identity(), nn.Sequential(nn.Flatten(), nn.Linear(64, 5))),
                          nn.Linear(5, 3))
    run_probe(FirstLayerWeights(), image_data(), model, tmp_path)
    check_unit_rows(read_csv(tmp_path / "first_layer_weights.csv"), model[0][1][1].weight.detach())


def test_first_layer_tiles_show_the_weights_as_images(tmp_path):
    """Template weights: each tile must show its class's block (strong colour) on white (zero)."""
    run_probe(FirstLayerWeights(), image_data(), template_model(), tmp_path)
    image = assert_real_png(tmp_path / "plots" / "first_layer_weights.png")[..., :3]
    red = (image[..., 0] > image[..., 1] + 0.3) & (image[..., 0] > image[..., 2] + 0.2)  # RdBu_r's + end
    blue = (image[..., 2] > image[..., 0] + 0.2)
    assert red.sum() > 3 * 200 and blue.sum() == 0  # three blocks, no negative weights


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Flatten(), nn.Linear(32, 3)), "takes 32 inputs"),
    (nn.Sequential(nn.Flatten(), nn.ReLU()), "no nn.Linear or nn.Conv2d"),
])
def test_first_layer_refuses_models_it_cannot_draw_at_the_first_epoch(tmp_path, model, message):
    probe = FirstLayerWeights()
    probe.start(ProbeContext(image_data(), 3, 1, torch.device("cpu"), tmp_path))
    with pytest.raises(UserError, match=message):
        probe.after_epoch(1, model)


# --- shift -------------------------------------------------------------------------------------


def roll_shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Independent translation: torch.roll, then blank what wrapped around."""
    out = x.roll((dy, dx), dims=(-2, -1)).clone()
    if dy > 0:
        out[..., :dy, :] = 0
    elif dy < 0:
        out[..., dy:, :] = 0
    if dx > 0:
        out[..., :, :dx] = 0
    elif dx < 0:
        out[..., :, dx:] = 0
    return out


def test_roll_reference_agrees_with_pixel_reference():
    x = torch.arange(1, 31).reshape(1, 1, 5, 6)
    for dx, dy in [(2, 0), (0, 3), (2, 2), (-1, 2)]:
        assert torch.equal(roll_shift(x, dx, dy), reference_translate(x, dx, dy))


def accuracy(model, x, y) -> float:
    return float((predictions(model, x).argmax(1) == y).float().mean())


def test_shift_accuracy_at_zero_is_test_accuracy_and_sensitive_models_lose_it(tmp_path):
    data, model = image_data(), template_model()
    run_probe(ShiftInvariance(max_shift=3, directions=["right", "down", "diagonal", "up"]),
              data, model, tmp_path)
    rows = read_csv(tmp_path / "shift_invariance.csv")
    assert [(r["direction"], int(r["shift"])) for r in rows] == [
        (d, s) for d in ("right", "down", "diagonal", "up") for s in range(4)]
    acc = {(r["direction"], int(r["shift"])): float(r["accuracy"]) for r in rows}
    plain = accuracy(model, data.test.x, data.test.y)
    assert 0.7 < plain < 1
    for direction in ("right", "down", "diagonal", "up"):
        assert acc[direction, 0] == pytest.approx(plain, abs=1e-6)
        assert acc[direction, 3] < plain - 0.3  # the blocks left their templates behind
    for (direction, (dx, dy)), s in itertools.product(
            {"right": (1, 0), "down": (0, 1), "diagonal": (1, 1), "up": (0, -1)}.items(), (1, 2, 3)):
        expected = accuracy(model, roll_shift(data.test.x, dx * s, dy * s), data.test.y)
        assert acc[direction, s] == pytest.approx(expected, abs=1e-6), (direction, s)
    assert_real_png(tmp_path / "plots" / "shift_invariance.png")


def test_shift_of_a_global_pooling_model_keeps_accuracy(tmp_path):
    """Control: a model that only sums the pixels is blind to shifts that keep the content in frame
    (here 1 pixel left or up), so its accuracy must not move."""
    data = image_data(noise=0)
    data.test = Split(data.test.x * (data.test.y[:, None, None, None] != 2), data.test.y)  # 2 -> blank

    class Brightness(nn.Module):  # class 0 if any ink, else class 2
        def forward(self, x):
            ink = x.flatten(1).sum(1)
            return torch.stack([ink, torch.zeros_like(ink), 1 - ink], 1)

    run_probe(ShiftInvariance(max_shift=1, directions=["left", "up"]), data, Brightness(), tmp_path)
    accs = [float(r["accuracy"]) for r in read_csv(tmp_path / "shift_invariance.csv")]
    assert accs == pytest.approx([2 / 3] * 4, abs=0.01)


# --- all probes --------------------------------------------------------------------------------

ALL = [ConfusionMatrix, FirstLayerWeights, MisclassifiedExamples, ShiftInvariance]
FILES = {ConfusionMatrix: "confusion_matrix", FirstLayerWeights: "first_layer_weights",
         MisclassifiedExamples: "misclassified", ShiftInvariance: "shift_invariance"}


@pytest.mark.parametrize("probe_class", ALL)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_probe_writes_its_csv_and_png_for_grey_and_colour(tmp_path, probe_class, channels):
    data = image_data(n_test=60, channels=channels)
    model = tiny_conv(channels)
    run_probe(probe_class(), data, model, tmp_path)
    assert read_csv(tmp_path / f"{FILES[probe_class]}.csv")
    assert_real_png(tmp_path / "plots" / f"{FILES[probe_class]}.png")


class Recorder(nn.Module):
    """Wraps a model; records batch sizes and whether it ran in eval mode without gradients."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, x):
        self.calls.append((len(x), self.training, torch.is_grad_enabled(), x.dtype, float(x.max())))
        return self.model(x)


@pytest.mark.parametrize("probe_class", [ConfusionMatrix, MisclassifiedExamples, ShiftInvariance])
def test_probes_evaluate_in_eval_mode_in_batches_and_restore_train_mode(tmp_path, probe_class):
    model = Recorder(nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 3)))
    model.train()
    shift = probe_class is ShiftInvariance
    probe = probe_class(max_shift=1, directions=["right"]) if shift else probe_class()
    run_probe(probe, image_data(n_test=2500), model, tmp_path)
    assert model.training and model.model[1].training
    calls = model.calls
    assert calls and all(not training and not grad and dtype == torch.float32 and top <= 1
                         for _, training, grad, dtype, top in calls)
    assert max(size for size, *_ in calls) <= 1000
    assert sum(size for size, *_ in calls) % 2500 == 0


@pytest.mark.parametrize("probe_class", ALL)
def test_probes_refuse_non_image_datasets(tmp_path, probe_class):
    points = Split(torch.randn(10, 2), torch.arange(10) % 2)
    data = Dataset(name="xor", train=points, test=points, num_classes=2, input_shape=(2,))
    with pytest.raises(UserError, match=f"probe={probe_class().name} needs an image dataset"):
        probe_class().start(ProbeContext(data, 1, 1, torch.device("cpu"), tmp_path))


@pytest.mark.parametrize("probe_class", ALL)
def test_probes_without_a_finished_epoch_write_nothing(tmp_path, probe_class):
    probe = probe_class()
    probe.start(ProbeContext(image_data(), 5, 1, torch.device("cpu"), tmp_path))
    probe.finish()
    assert list(tmp_path.iterdir()) == []


def test_shift_larger_than_the_image_is_refused_at_start(tmp_path):
    ShiftInvariance(max_shift=7).start(ProbeContext(image_data(), 1, 1, torch.device("cpu"), tmp_path))
    with pytest.raises(UserError, match="max_shift=8 moves the 8x8 test images out of the frame"):
        ShiftInvariance(max_shift=8).start(ProbeContext(image_data(), 1, 1, torch.device("cpu"), tmp_path))


def test_probe_figures_say_which_run_they_are(tmp_path, monkeypatch):
    """Titled by the run's dataset, model and distinguishing settings (from its .hydra record),
    so the shift figures of an MLP run and a LeNet run can be told apart."""
    import yaml

    from nnlab import plots

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["model=lenet", "epochs=3",
                                                                        "device=cpu"]))
    (tmp_path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"dataset": {"name": "blocks"}, "model": {"_target_": "nnlab.models.LeNet"}}))
    kept = {}
    monkeypatch.setattr(plots, "save", lambda fig, path, dpi=120: kept.setdefault(path.name, fig))
    for probe in (ShiftInvariance(max_shift=2), ConfusionMatrix(), MisclassifiedExamples(count=3)):
        run_probe(probe, image_data(), template_model(), tmp_path)
        probe.finish()
    assert kept["shift_invariance.png"].axes[0].get_title() == (
        "blocks / LeNet: test accuracy on shifted images\nmodel=lenet epochs=3")
    assert kept["confusion_matrix.png"].axes[0].get_title().startswith(
        "blocks / LeNet: test confusion matrix\nmodel=lenet epochs=3\n")
    assert "\nmodel=lenet epochs=3\n" in kept["misclassified.png"]._suptitle.get_text()
