"""Vision datasets through the real loaders on files in torchvision's formats; augmentation;
image models; real Fashion-MNIST when Debian's package is installed."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from conftest import Run, nnlab, train
from nnlab.data.augment import Augment, shift_images
from nnlab.data.formats import patterned_images, write_cifar_dataset, write_idx_dataset
from nnlab.data.vision import (
    CACHE_VERSION,
    DEBIAN_FASHION_MNIST,
    IDX_FILES,
    default_root,
    held_out,
    load_cached,
    make_vision,
)
from nnlab.errors import UserError
from nnlab.models import ConvNet, LeNet, Normalized, build_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def mnist_root(tmp_path):
    write_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=600, n_test=200)
    return tmp_path / "data"


def test_mnist_from_idx_files(mnist_root):
    d = make_vision("mnist", root=str(mnist_root), val_size=100, download=False)
    assert d.train.x.shape == (500, 1, 28, 28) and d.train.x.dtype == torch.uint8
    assert d.val.x.shape == (100, 1, 28, 28) and d.test.x.shape == (200, 1, 28, 28)
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10 and d.is_image
    images, labels = patterned_images(200, (28, 28), 10, 1)  # the test files' contents
    assert torch.equal(d.test.x[:, 0], torch.from_numpy(images))
    assert torch.equal(d.test.y, torch.from_numpy(labels).long())


def test_validation_split_is_seeded_and_disjoint(mnist_root):
    a = make_vision("mnist", root=str(mnist_root), val_size=100, download=False, seed=0)
    b = make_vision("mnist", root=str(mnist_root), val_size=100, download=False, seed=0)
    c = make_vision("mnist", root=str(mnist_root), val_size=100, download=False, seed=1)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    rows = {bytes(x.numpy()) for x in a.train.x} | {bytes(x.numpy()) for x in a.val.x}
    assert len(rows) == 600  # every training image lands in exactly one split


def test_parsed_splits_are_cached_and_refreshed_when_files_change(mnist_root):
    first = make_vision("mnist", root=str(mnist_root), val_size=0, download=False)
    cache = next((mnist_root / "MNIST" / "nnlab-cache").glob("*.pt"))
    assert cache.is_file()
    cached = make_vision("mnist", root=str(mnist_root), val_size=0, download=False)
    assert torch.equal(first.train.x, cached.train.x)
    write_idx_dataset(mnist_root / "MNIST" / "raw", n_train=300, n_test=200, seed=5)
    assert len(make_vision("mnist", root=str(mnist_root), val_size=0, download=False).train) == 300


def test_source_folder_of_gz_files_is_imported(tmp_path):
    src = write_idx_dataset(tmp_path / "elsewhere", gz=True)
    d = make_vision("fashion_mnist", root=str(tmp_path / "data"), source=str(src), val_size=0,
                    download=False)
    assert len(d.train) == 600 and len(d.test) == 200
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_missing_files_offline_name_what_and_where(tmp_path):
    with pytest.raises(UserError) as info:
        make_vision("mnist", root=str(tmp_path), download=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert "dataset.source" in msg


def test_source_missing_files_is_a_user_error(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(UserError, match="missing train-images-idx3-ubyte"):
        make_vision("mnist", root=str(tmp_path), source=str(tmp_path / "src"), download=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_idx_files_are_a_user_error(mnist_root, damage):
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:1000] if damage == "truncate" else os.urandom(len(data)))
    with pytest.raises(UserError, match="truncated or corrupt|images but"):
        make_vision("mnist", root=str(mnist_root), download=False)


def test_cifar10_from_pickled_batches(tmp_path):
    write_cifar_dataset(tmp_path / "cifar-10-batches-py", per_batch=40, n_test=30)
    d = make_vision("cifar10", root=str(tmp_path), val_size=20, download=False)
    assert d.train.x.shape == (180, 3, 32, 32) and d.test.x.shape == (30, 3, 32, 32)
    assert d.input_shape == (3, 32, 32) and d.class_names[0] == "airplane"
    images, labels = patterned_images(30, (3, 32, 32), 10, 5)
    assert torch.equal(d.test.x, torch.from_numpy(images))
    assert d.augment == {}  # the config, not the loader, turns augmentation on


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_planted_pickle_in_cifar_folder_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = write_cifar_dataset(tmp_path / "cifar-10-batches-py", per_batch=10, n_test=10)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": _Exploit(), "labels": []}, f, protocol=2)
    with pytest.raises(UserError, match="data_batch_3"):
        make_vision("cifar10", root=str(tmp_path), val_size=0, download=False)
    assert not (tmp_path / "PWNED").exists()


# --- preparing the data: parallel jobs, failures, the default root, the log, what is held out ----

def _in_lockstep(monkeypatch, parties: int = 2):
    """Make each thread's first atomic rename in vision.py wait until every thread has reached
    its own: all temporaries are written before any is renamed, the interleaving that broke
    parallel sweeps when every job used the same temporary name."""
    import threading

    import nnlab.data.vision as vision

    barrier, seen, real = threading.Barrier(parties, timeout=30), threading.local(), os.replace

    def replace(src, dst):
        if not getattr(seen, "done", False):
            seen.done = True
            barrier.wait()
        real(src, dst)

    monkeypatch.setattr(vision.os, "replace", replace)


def _together(*calls):
    """Run the calls in threads at once; returns their results, re-raising the first error."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


@pytest.mark.parametrize("gz", [False, True])
def test_two_jobs_importing_the_same_files_at_once_both_succeed(tmp_path, monkeypatch, gz):
    src = write_idx_dataset(tmp_path / "src", gz=gz)
    _in_lockstep(monkeypatch)
    a, b = _together(*[lambda: make_vision("fashion_mnist", root=str(tmp_path / "data"),
                                           source=str(src), val_size=0, download=False)] * 2)
    assert len(a.train) == len(b.train) == 600 and torch.equal(a.test.x, b.test.x)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(IDX_FILES)  # no temporaries left
    assert [p.name for p in (tmp_path / "data" / "FashionMNIST" / "nnlab-cache").iterdir()] == [
        f"fashion_mnist-v{CACHE_VERSION}.pt"]


def test_two_jobs_writing_the_parsed_cache_at_once_both_succeed(mnist_root, monkeypatch):
    _in_lockstep(monkeypatch)  # the raw files are there: the first rename is the cache's
    raw = mnist_root / "MNIST" / "raw"
    a, b = _together(*[lambda: load_cached("mnist", raw)] * 2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(list((mnist_root / "MNIST" / "nnlab-cache").iterdir())) == 1


def _unreachable_mirrors(monkeypatch):
    """torchvision's downloads fail at once, as offline (port 9 refuses the connection)."""
    import torchvision.datasets as tvd

    for cls in (tvd.MNIST, tvd.FashionMNIST):
        monkeypatch.setattr(cls, "mirrors", ["http://127.0.0.1:9/"])


def test_failed_download_leaves_no_folders_behind(tmp_path, monkeypatch):
    _unreachable_mirrors(monkeypatch)
    with pytest.raises(UserError, match="download failed"):
        make_vision("mnist", root=str(tmp_path / "new" / "data"), download=True)
    assert list(tmp_path.iterdir()) == []  # MNIST/raw, data/ and new/ were made by the attempt
    (tmp_path / "kept").mkdir()
    with pytest.raises(UserError, match="download failed"):
        make_vision("mnist", root=str(tmp_path / "kept"), download=True)
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []


def _fake_mnist_download(monkeypatch, fail_after: int | None = None):
    """torchvision's MNIST download, offline: it writes the files into its raw_folder (after
    `fail_after` of them, it fails as a dropped connection would)."""
    import torchvision.datasets as tvd

    def download(self):
        folder = write_idx_dataset(Path(self.raw_folder), n_train=100, n_test=20)
        if fail_after is not None:
            for f in IDX_FILES[fail_after:]:
                (folder / f).unlink()
            raise RuntimeError("Error downloading t10k-images-idx3-ubyte.gz: connection reset")

    monkeypatch.setattr(tvd.MNIST, "download", download)


def test_partly_failed_download_leaves_no_partial_files(tmp_path, monkeypatch):
    _fake_mnist_download(monkeypatch, fail_after=2)
    with pytest.raises(UserError, match="download failed .*connection reset"):
        make_vision("mnist", root=str(tmp_path / "data"), download=True)
    assert list(tmp_path.iterdir()) == []


def test_failed_import_leaves_whole_files_only(tmp_path):
    src = write_idx_dataset(tmp_path / "src", gz=True)
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not gzip")  # the third file fails
    with pytest.raises(UserError, match="cannot decompress"):
        make_vision("mnist", root=str(tmp_path / "data"), source=str(src), download=False)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(IDX_FILES[:2])  # whole files only


def test_default_root_is_per_user_unless_nnlab_data_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NNLAB_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_root() == tmp_path / "home" / ".cache" / "nnlab" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says to ignore it
    assert default_root() == tmp_path / "home" / ".cache" / "nnlab" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "nnlab" / "data"
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "mine"))
    assert default_root() == tmp_path / "mine"
    # dataset.root=null reads from there, wherever the command runs; data.root says where
    write_idx_dataset(tmp_path / "mine" / "MNIST" / "raw", n_train=100, n_test=20)
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path / "home")
    data = make_vision("mnist", root=None, val_size=0, download=False)
    assert data.root == str(tmp_path / "mine") and len(data.train) == 100
    assert not (tmp_path / "home" / "data").exists()


def test_relative_root_is_recorded_absolute(mnist_root, monkeypatch):
    monkeypatch.chdir(mnist_root.parent)
    data = make_vision("mnist", root="data", val_size=0, download=False)
    assert data.root == str(mnist_root) and os.path.isabs(data.root)


def test_image_configs_default_to_the_per_user_root_and_null_val_size():
    from hydra import compose, initialize_config_module

    for name in ("mnist", "fashion_mnist", "cifar10"):
        with initialize_config_module("nnlab.configs", version_base="1.3"):
            node = compose(config_name="train", overrides=[f"dataset={name}"]).dataset
        assert node.name == name and node.root is None and node.val_size is None, name


def test_log_says_where_each_dataset_came_from(tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="nnlab.data.vision")
    src = write_idx_dataset(tmp_path / "src", gz=True)
    root = tmp_path / "data"
    raw = root / "FashionMNIST" / "raw"

    def lines():
        out = [r.getMessage() for r in caplog.records if "read from" in r.getMessage()]
        caplog.clear()
        assert len(out) == 1, out
        return out[0]

    make_vision("fashion_mnist", root=str(root), source=str(src), val_size=0, download=False)
    assert lines() == (f"fashion_mnist: read from {raw} (imported from dataset.source={src}; "
                       "parsed, cache written)")
    make_vision("fashion_mnist", root=str(root), val_size=0, download=False)
    assert lines() == f"fashion_mnist: read from {raw} (files already there; parsed splits from the cache)"

    _fake_mnist_download(monkeypatch)
    make_vision("mnist", root=str(root), val_size=0, download=True)
    assert "(downloaded by torchvision; parsed, cache written)" in lines()
    assert sorted(p.name for p in root.iterdir()) == ["FashionMNIST", "MNIST"]  # no staging left


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_log_names_the_debian_package(tmp_path, caplog, monkeypatch):
    caplog.set_level("INFO", logger="nnlab.data.vision")
    make_vision("fashion_mnist", root=str(tmp_path), val_size=0, download=False)
    assert f"imported from Debian's dataset-fashion-mnist package in {DEBIAN_FASHION_MNIST}" in caplog.text


def test_default_validation_split_scales_with_the_training_split(mnist_root, caplog):
    caplog.set_level("INFO", logger="nnlab.data.vision")
    data = make_vision("mnist", root=str(mnist_root), train_size=300, download=False)
    assert (len(data.train), len(data.val)) == (270, 30)
    assert "mnist: held out 30 of 300 training images for validation" in caplog.text
    # the full datasets keep their 5000: MNIST/Fashion-MNIST's 60k, CIFAR-10's 50k
    assert held_out(None, 60000) == held_out(None, 50000) == 5000
    assert held_out(None, 5000) == 500 and held_out(None, 9) == 0
    assert held_out(4999, 5000) == 4999


@pytest.mark.parametrize("val_size,train_size,message", [
    (600, None, "dataset.val_size=600 leaves no training images (the training split has 600)"),
    (50, 50, "dataset.val_size=50 leaves no training images"),
    (None, 0, "dataset.train_size=0 leaves no training images")])
def test_a_split_leaving_nothing_to_train_on_is_one_line(mnist_root, val_size, train_size, message):
    with pytest.raises(UserError, match=re.escape(message)) as info:
        make_vision("mnist", root=str(mnist_root), val_size=val_size, train_size=train_size,
                    download=False)
    assert "\n" not in str(info.value)


def test_a_subset_trains_with_the_default_validation_split_through_the_cli(tmp_path):
    """dataset.train_size below 5000 with val_size left alone used to stop with an error."""
    write_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=600, n_test=100)
    train(tmp_path, "dataset=mnist", "epochs=1", "dataset.train_size=500", "plots=false",
          f"dataset.root={tmp_path / 'data'}")
    run = Run(tmp_path / "run")
    assert (run.summary["n_train"], run.summary["n_val"]) == (450, 50)


# --- augmentation --------------------------------------------------------------------------------

def test_shift_images_moves_pixels_and_fills_zeros():
    x = torch.arange(1, 26, dtype=torch.float32).view(1, 1, 5, 5)
    out = shift_images(x, torch.tensor([2]), torch.tensor([-1]), pad=2)
    expected = torch.zeros(5, 5)
    expected[0:4, 2:5] = x[0, 0, 1:5, 0:3]  # right by 2, up by 1
    assert torch.equal(out[0, 0], expected)


def test_augment_is_seeded_keeps_input_and_stays_in_range():
    x = torch.rand(64, 3, 8, 8)
    before = x.clone()
    a = Augment(translate=2, hflip=True, seed=3)(x)
    b = Augment(translate=2, hflip=True, seed=3)(x)
    assert torch.equal(x, before) and torch.equal(a, b) and not torch.equal(a, x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(Augment(translate=0, hflip=False)(x), x)


def test_hflip_flips_about_half():
    x = torch.arange(4.0).view(1, 1, 1, 4).repeat(1000, 1, 1, 1)
    out = Augment(hflip=True, seed=0)(x)
    flipped = (out[:, 0, 0, 0] == 3).float().mean()
    assert 0.4 < flipped < 0.6


# --- image models ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("make", [lambda s: LeNet(s, 10), lambda s: ConvNet(s, 10),
                                  lambda s: ConvNet(s, 10, channels=[8, 16, 32], convs_per_block=2)])
def test_image_models_take_any_input_size(shape, make):
    assert make(shape)(torch.rand(2, *shape)).shape == (2, 10)


def test_lenet_is_lenet5():
    net = LeNet((1, 28, 28), 10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(6, (5, 5)), (16, (5, 5))]
    assert [f.out_features for f in fcs] == [120, 84, 10] and fcs[0].in_features == 16 * 5 * 5


def test_conv_model_on_points_is_a_user_error():
    with pytest.raises(UserError, match="needs image data"):
        LeNet((2,), 2)


def test_image_models_normalise_inside(mnist_root):
    from omegaconf import OmegaConf

    data = make_vision("mnist", root=str(mnist_root), val_size=0, download=False)
    model = build_model(OmegaConf.create({"_target_": "nnlab.models.LeNet"}), data)
    assert isinstance(model, Normalized)
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(model(x), model.net((x - 0.1307) / 0.3081))
    assert "mean" in model.state_dict()


# --- end to end -----------------------------------------------------------------------------------

def test_lenet_trains_on_mnist_files_through_the_cli(tmp_path):
    write_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=1200, n_test=300)
    train(tmp_path, "dataset=mnist", "model=lenet", "epochs=3", "dataset.val_size=200",
          "optimizer.lr=0.003", "dataset.augment.translate=1", f"dataset.root={tmp_path / 'data'}")
    run = Run(tmp_path / "run")
    assert run.summary["n_train"] == 1000 and run.summary["n_val"] == 200
    assert run.summary["final"]["test_acc"] > 0.5  # chance is 0.1
    assert (run.path / "plots" / "learning_curves.png").is_file()
    assert not (run.path / "plots" / "decision_boundary.png").exists()


def test_cnn_and_mlp_on_cifar_files_through_the_cli(tmp_path):
    write_cifar_dataset(tmp_path / "data" / "cifar-10-batches-py", per_batch=40, n_test=40)
    for model in ("cifar_cnn", "mlp"):
        proc = train(tmp_path, "dataset=cifar10", f"model={model}", "epochs=1", "dataset.val_size=20",
                     "batch_size=32", f"dataset.root={tmp_path / 'data'}", run_dir=model)
        assert proc.returncode == 0
        assert Run(tmp_path / model).summary["n_params"] > 0


def test_offline_without_data_is_one_line(tmp_path):
    proc = nnlab("train", "dataset=mnist", "model=lenet", f"dataset.root={tmp_path / 'empty'}",
                 cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnlab: error: mnist: expected train-images-idx3-ubyte")
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian_package(tmp_path):
    """A few hundred steps of LeNet on the real data land far above chance (10%)."""
    train(tmp_path, "dataset=fashion_mnist", "model=lenet", "epochs=1", "dataset.train_size=19200",
          "dataset.val_size=0", "dataset.test_size=2000", "optimizer.lr=0.002",
          f"dataset.root={tmp_path / 'data'}")
    run = Run(tmp_path / "run")
    assert run.summary["n_train"] == 19200  # 300 steps of 64
    assert run.summary["final"]["test_acc"] > 0.7
    raw = tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    assert raw.stat().st_size == 47040016  # the real file, decompressed from Debian's .gz


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    """Dropout, augmentation and a schedule: a run stopped after some epochs and resumed ends
    with the same metrics as one that never stopped (CPU)."""
    import signal
    import subprocess
    import sys
    import time

    write_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=400, n_test=100)
    common = ["dataset=mnist", "model=mlp", "model.hidden=[32]", "model.dropout=0.2", "epochs=8",
              "dataset.val_size=50", "dataset.augment.translate=1", "scheduler=cosine",
              f"dataset.root={tmp_path / 'data'}",
              "optimizer.lr=0.003", "progress=false", "plots=false"]
    train(tmp_path, *common, run_dir="whole")
    # Same thread count as train() uses: a different one changes float sums in the last digit.
    proc = subprocess.Popen([sys.executable, "-m", "nnlab", "train", "hydra.run.dir=cut", *common],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = tmp_path / "cut" / "metrics.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text()
                                                                       .splitlines()) < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    cut_at = len(Run(tmp_path / "cut").metrics)
    if code == 0:
        pytest.skip("the run finished before the interrupt landed")
    assert code == 130 and cut_at < 8
    resumed = nnlab("train", "resume=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    whole, cut = (Run(tmp_path / n) for n in ("whole", "cut"))
    assert cut.summary["status"] == "completed" and cut.summary["resumed_at_epochs"] == [cut_at]
    pd_cols = [c for c in whole.metrics.columns if c != "seconds"]
    assert whole.metrics[pd_cols].to_csv() == cut.metrics[pd_cols].to_csv()
    assert (tmp_path / "cut" / ".hydra" / "resume" / "overrides.yaml").is_file()


def test_resume_refuses_to_change_the_experiment(tmp_path):
    train(tmp_path, "epochs=2", "plots=false")
    proc = nnlab("train", "resume=run", "optimizer.lr=0.5", cwd=tmp_path)
    assert proc.returncode == 2 and "would change the experiment" in proc.stderr
    proc = nnlab("train", "resume=nowhere", cwd=tmp_path)
    assert proc.returncode == 2 and "not a run folder" in proc.stderr


def test_resume_extends_a_finished_run(tmp_path):
    train(tmp_path, "epochs=2", "plots=false")
    proc = nnlab("train", "resume=run", "epochs=4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = Run(tmp_path / "run")
    assert run.metrics["epoch"].tolist() == [1, 2, 3, 4]


def test_probe_translate_agrees_with_augmentation_shift():
    from nnlab.probes.shift import translate

    x = torch.rand(4, 1, 9, 9)
    for dx, dy in ((2, 0), (0, -3), (1, 1), (-2, 2)):
        n = torch.full((4,), 1)
        assert torch.equal(translate(x, dx, dy), shift_images(x, n * dx, n * dy, pad=3))
