"""TensorFlow Playground's toys (src/dataset.ts there), make_toy's splits and features, make_xor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnlab.data.features import ALIASES, FEATURES, canonical_features, featurize
from nnlab.data.toys import GENERATORS, circle, gauss, make_toy, make_xor, spiral, xor_toy
from nnlab.errors import UserError

ALL_FEATURES = ["x1", "x2", "x1sq", "x2sq", "x1x2", "sin_x1", "sin_x2"]


def rng(seed=0):
    return np.random.default_rng(seed)


def radii(pts):
    return np.linalg.norm(pts, axis=1)


# --- circle ------------------------------------------------------------------------------------


def test_circle_without_noise_labels_by_radius_and_keeps_the_gap():
    pts, labels = circle(1000, 0.0, rng())
    r = radii(pts)
    assert pts.shape == (1000, 2) and labels.shape == (1000,)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (r < 2.5).astype(np.int64))
    assert labels.sum() == 500  # half inside, half on the ring
    inner, outer = r[labels == 1], r[labels == 0]
    assert inner.min() >= 0 and inner.max() < 2.5
    assert outer.min() >= 3.5 and outer.max() <= 5.0
    # the radii fill their ranges (uniform in r), not just a thin shell
    assert inner.min() < 0.1 and inner.max() > 2.4
    assert outer.min() < 3.6 and outer.max() > 4.9


def test_circle_angles_cover_the_whole_circle():
    pts, _ = circle(2000, 0.0, rng())
    angle = np.arctan2(pts[:, 0], pts[:, 1])
    counts, _ = np.histogram(angle, bins=8, range=(-math.pi, math.pi))
    assert counts.min() > 2000 / 8 * 0.7


def test_circle_noise_flips_labels_but_stores_clean_points():
    noise = 0.5
    pts, labels = circle(2000, noise, rng())
    r = radii(pts)
    # stored points are the clean ones: still inside 2.5 or on the 3.5..5 ring
    assert np.all((r < 2.5) | ((r >= 3.5) & (r <= 5.0)))
    clean = (r < 2.5).astype(np.int64)
    wrong = labels != clean
    assert 0 < wrong.sum() < 0.5 * len(labels)
    # a label can only flip when the shift (at most 5*noise per coordinate) crosses radius 2.5
    max_shift = math.hypot(5 * noise, 5 * noise)
    assert np.all(np.abs(r[wrong] - 2.5) <= max_shift + 1e-9)
    # ... and the shift really is that large: some points far from 2.5 do flip
    assert np.abs(r[wrong] - 2.5).max() > 0.6 * max_shift


def test_circle_small_noise_cannot_cross_the_gap():
    # noise 0.1 shifts by at most 0.5 per coordinate (0.71 in all) < the 1.0 gap around 2.5..3.5,
    # except for inner points within 0.71 of 2.5, so only those may flip.
    pts, labels = circle(2000, 0.1, rng())
    r = radii(pts)
    assert np.all(labels[r >= 3.5] == 0)
    assert np.all(labels[r < 2.5 - 0.71] == 1)
    assert np.any(labels[(r < 2.5) & (r > 2.5 - 0.71)] == 0)  # but noise does act


# --- xor_toy -----------------------------------------------------------------------------------


def test_xor_toy_without_noise():
    pts, labels = xor_toy(2000, 0.0, rng())
    x, y = pts[:, 0], pts[:, 1]
    assert np.all(np.abs(pts) >= 0.3) and np.all(np.abs(pts) <= 5.3)
    # padding of 0.3 on uniform(-5, 5): values reach close to 0.3 and 5.3 on both signs
    for v in (x, y):
        assert np.abs(v).min() < 0.32 and np.abs(v).max() > 5.25
        assert v.min() < -5.25 and v.max() > 5.25
    np.testing.assert_array_equal(labels, (x * y >= 0).astype(np.int64))
    assert 0.45 < labels.mean() < 0.55


def test_xor_toy_noise_decides_labels_near_the_axes_only():
    noise = 0.5
    pts, labels = xor_toy(2000, noise, rng())
    assert np.all(np.abs(pts) >= 0.3)  # stored points are clean
    wrong = labels != (pts[:, 0] * pts[:, 1] >= 0)
    assert 0 < wrong.sum() < 0.5 * len(labels)
    # the sign of a coordinate flips only if it is within the 5*noise shift of the axis
    dist_to_axis = np.abs(pts[wrong]).min(axis=1)
    assert np.all(dist_to_axis <= 5 * noise + 1e-9)
    assert dist_to_axis.max() > 0.75 * 5 * noise  # the shift spans the whole +-5*noise


def test_xor_toy_small_noise_never_crosses_the_padding():
    pts, labels = xor_toy(2000, 0.05, rng())  # shift <= 0.25 < 0.3 padding
    np.testing.assert_array_equal(labels, (pts[:, 0] * pts[:, 1] >= 0).astype(np.int64))


# --- gauss -------------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", [0.0, 0.25, 0.5])
def test_gauss_centres_and_variance(noise):
    pts, labels = gauss(20000, noise, rng())
    assert labels.sum() == 10000
    variance = 0.5 + 7 * noise  # the playground's scale: 0.5 at noise 0, 4 at noise 0.5
    for label, centre in ((1, 2.0), (0, -2.0)):
        cls = pts[labels == label]
        np.testing.assert_allclose(cls.mean(axis=0), [centre, centre], atol=0.1)
        np.testing.assert_allclose(cls.var(axis=0), [variance, variance], rtol=0.08)


# --- spiral ------------------------------------------------------------------------------------


def test_spiral_without_noise_matches_the_playground_formula():
    n = 200
    m = n // 2
    pts, labels = spiral(n, 0.0, rng())
    assert labels.sum() == m
    i = np.arange(m)
    r = 5 * i / m
    for label, delta in ((1, 0.0), (0, math.pi)):
        arm = pts[labels == label]
        np.testing.assert_allclose(radii(arm), r, atol=1e-9)
        t = 1.75 * 2 * math.pi * i / m + delta
        np.testing.assert_allclose(arm[:, 0], r * np.sin(t), atol=1e-9)
        np.testing.assert_allclose(arm[:, 1], r * np.cos(t), atol=1e-9)


def test_spiral_arms_are_point_reflections_of_each_other():
    pts, labels = spiral(100, 0.0, rng())
    np.testing.assert_allclose(pts[labels == 0], -pts[labels == 1], atol=1e-9)


def test_spiral_noise_is_uniform_and_bounded_by_noise():
    noise = 0.3
    clean, clean_labels = spiral(400, 0.0, rng())
    noisy, labels = spiral(400, noise, rng(1))
    np.testing.assert_array_equal(labels, clean_labels)
    delta = noisy - clean
    assert np.all(np.abs(delta) <= noise)
    assert np.abs(delta).max() > 0.9 * noise  # spread over (-noise, noise), not a tiny jitter
    assert abs(delta.mean()) < 0.05


# --- make_toy: splits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "train_fraction", "val_fraction", "sizes"),
    [
        (500, 0.5, 0.0, (250, 0, 250)),
        (101, 0.7, 0.0, (70, 0, 31)),  # floor(70.7) = 70
        (101, 0.7, 0.2, (56, 14, 31)),  # 14 of the 70 training points held out
        (10, 0.6, 0.5, (3, 3, 4)),
        (4, 0.5, 0.0, (2, 0, 2)),
    ],
)
def test_make_toy_split_sizes(n, train_fraction, val_fraction, sizes):
    data = make_toy("circle", n_samples=n, train_fraction=train_fraction,
                    val_fraction=val_fraction)
    got = (len(data.train), len(data.val) if data.val is not None else 0, len(data.test))
    assert got == sizes
    assert data.train.x.shape[0] == data.plane.points["train"].shape[0] == sizes[0]


def test_make_toy_split_size_is_not_thrown_off_by_float_rounding():
    data = make_toy("circle", n_samples=100, train_fraction=0.29)
    assert (len(data.train), len(data.test)) == (29, 71)


def test_make_toy_without_val_fraction_has_no_val_split():
    data = make_toy("gauss", n_samples=40)
    assert data.val is None
    assert list(data.splits()) == ["train", "test"]
    assert set(data.plane.points) == {"train", "test"}
    data = make_toy("gauss", n_samples=40, val_fraction=0.25)
    assert list(data.splits()) == ["train", "val", "test"]
    assert set(data.plane.points) == {"train", "val", "test"}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_make_toy_splits_partition_the_generated_points(name):
    n, noise, seed = 120, 0.2, 3
    data = make_toy(name, n_samples=n, noise=noise, val_fraction=0.2, seed=seed)
    pts, labels = GENERATORS[name](n, noise, np.random.default_rng(seed))
    got_pts = torch.cat([data.plane.points[k] for k in ("train", "val", "test")]).double()
    got_labels = torch.cat([data.train.y, data.val.y, data.test.y])
    expected = np.concatenate([pts, labels[:, None]], axis=1)
    got = np.concatenate([got_pts.numpy(), got_labels.numpy()[:, None]], axis=1)
    # the same points and labels, each exactly once, only in another order
    order = np.lexsort(expected.T)
    got_order = np.lexsort(got.T)
    np.testing.assert_allclose(got[got_order], expected[order], atol=1e-5)


def test_make_toy_shuffles_before_splitting():
    # gauss generates all class-1 points first: without shuffling, train would be one class
    data = make_toy("gauss", n_samples=400)
    for split in (data.train, data.test):
        assert 0.35 < split.y.float().mean().item() < 0.65


# --- make_toy: seeds, labels -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_make_toy_same_seed_same_tensors(name):
    a = make_toy(name, n_samples=100, noise=0.3, val_fraction=0.2, seed=7)
    b = make_toy(name, n_samples=100, noise=0.3, val_fraction=0.2, seed=7)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).x, getattr(b, split).x)
        assert torch.equal(getattr(a, split).y, getattr(b, split).y)
        assert torch.equal(a.plane.points[split], b.plane.points[split])


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_make_toy_different_seed_different_tensors(name):
    a = make_toy(name, n_samples=100, noise=0.3, seed=1)
    b = make_toy(name, n_samples=100, noise=0.3, seed=2)
    assert not torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.test.x, b.test.x)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_make_toy_labels_binary_and_balanced(name):
    data = make_toy(name, n_samples=400, noise=0.1)
    y = torch.cat([data.train.y, data.test.y])
    assert y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1}
    assert 0.4 < y.float().mean().item() < 0.6
    assert data.num_classes == 2
    assert data.class_names == ["negative", "positive"]
    assert data.name == name


@pytest.mark.parametrize("noise", [0, 0.0, 0.5])
def test_make_toy_accepts_noise_bounds(noise):
    data = make_toy("circle", n_samples=20, noise=noise)
    assert len(data.train) + len(data.test) == 20


# --- features ----------------------------------------------------------------------------------


def _expected_feature(name, p):
    x1, x2 = p[:, 0].double(), p[:, 1].double()
    return {
        "x1": x1, "x2": x2, "x1sq": x1 * x1, "x2sq": x2 * x2, "x1x2": x1 * x2,
        "sin_x1": torch.sin(x1), "sin_x2": torch.sin(x2),
    }[name]


def test_make_toy_features_are_computed_from_plane_points():
    data = make_toy("spiral", n_samples=60, noise=0.2, val_fraction=0.2, features=ALL_FEATURES)
    assert data.input_shape == (7,)
    assert data.feature_names == ALL_FEATURES
    for split_name, split in data.splits().items():
        pts = data.plane.points[split_name]
        assert pts.shape == (len(split), 2)
        assert split.x.shape == (len(split), 7) and split.x.dtype == torch.float32
        for j, name in enumerate(ALL_FEATURES):
            torch.testing.assert_close(split.x[:, j].double(), _expected_feature(name, pts),
                                       rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(data.plane.featurize(pts), split.x)


def test_plane_featurize_works_on_new_points():
    data = make_toy("circle", n_samples=20, features=["x1sq", "sin_x2"])
    grid = torch.tensor([[0.0, 0.0], [2.0, math.pi / 2], [-3.0, -math.pi / 2]])
    expected = torch.tensor([[0.0, 0.0], [4.0, 1.0], [9.0, -1.0]])
    torch.testing.assert_close(data.plane.featurize(grid), expected)
    assert data.plane.extent == (-6.0, 6.0, -6.0, 6.0)


def test_feature_order_is_kept():
    data = make_toy("xor_toy", n_samples=20, features=["x2", "x1"])
    pts = data.plane.points["train"]
    torch.testing.assert_close(data.train.x, pts.flip(1))
    assert data.feature_names == ["x2", "x1"]


@pytest.mark.parametrize(("alias", "canon"), sorted(ALIASES.items()))
def test_feature_aliases(alias, canon):
    assert canonical_features(["x1", alias]) == ["x1", canon]
    a = make_toy("gauss", n_samples=20, features=[alias])
    b = make_toy("gauss", n_samples=20, features=[canon])
    assert a.feature_names == [canon]
    assert torch.equal(a.train.x, b.train.x)
    pts = a.plane.points["train"]
    torch.testing.assert_close(a.train.x[:, 0].double(), _expected_feature(canon, pts),
                               rtol=1e-5, atol=1e-5)


def test_feature_aliases_in_the_playground_spelling():
    assert canonical_features(["x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]) == [
        "x1sq", "x2sq", "x1x2", "sin_x1", "sin_x2"]
    assert canonical_features(("x1", "x2")) == ["x1", "x2"]


def test_featurize_values():
    p = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    out = featurize(p, list(FEATURES))
    expected = torch.tensor([
        [1.0, 2.0, 1.0, 4.0, 2.0, math.sin(1.0), math.sin(2.0)],
        [-3.0, 0.5, 9.0, 0.25, -1.5, math.sin(-3.0), math.sin(0.5)],
    ])
    assert list(FEATURES) == ALL_FEATURES
    torch.testing.assert_close(out, expected)
    assert out.dtype == torch.float32


# --- make_toy: bad input (types and ranges: tests/test_schema.py) ----------------------------


@pytest.mark.parametrize(
    ("n", "train_fraction", "val_fraction"),
    [
        (4, 0.2, 0.0),  # floor(0.8) = 0 training points
        (10, 0.5, 0.95),  # 5 training points, round(4.75) = 5 held out -> none left to train on
        (8, 0.5, 0.9),  # 4 training points, round(3.6) = 4 held out
    ],
)
def test_make_toy_empty_split_is_a_user_error(n, train_fraction, val_fraction):
    with pytest.raises(UserError, match="train_fraction"):
        make_toy("circle", n_samples=n, train_fraction=train_fraction, val_fraction=val_fraction)


def test_make_toy_smallest_valid_dataset():
    data = make_toy("xor_toy", n_samples=4, train_fraction=0.5)
    assert (len(data.train), len(data.test)) == (2, 2)


# --- make_xor ----------------------------------------------------------------------------------


def test_make_xor_is_the_truth_table():
    data = make_xor()
    x, y = data.train.x, data.train.y
    assert x.tolist() == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert y.tolist() == [0, 1, 1, 0]
    assert y.tolist() == [int(a) ^ int(b) for a, b in x.tolist()]
    assert y.dtype == torch.int64 and x.dtype == torch.float32
    assert torch.equal(data.test.x, x) and torch.equal(data.test.y, y)
    assert data.val is None
    assert data.num_classes == 2 and data.input_shape == (2,)
    assert data.feature_names == ["x1", "x2"]
    torch.testing.assert_close(data.plane.featurize(data.plane.points["train"]), x)


def test_make_xor_train_and_test_do_not_share_storage():
    data = make_xor()
    data.train.x[0, 0] = 5.0
    data.train.y[0] = 1
    assert data.test.x[0, 0] == 0.0 and data.test.y[0] == 0
