"""The adversarial seed reproduction (scripts/experiments/adversarial.py, make
reproduce-adversarial): its table building on made-up attack.json contents, its settings, and the
whole experiment at tiny settings (real `nnlab train` and `nnlab attack` commands, about a
minute on 2 CPU cores, so marked slow)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from experiments import adversarial
from experiments.common import Context, ReproduceError

from conftest import needs_fashion

NAMES = [f"class{i}" for i in range(10)]


def attack_json(n: int = 1000, transfer=(), results=None, **values) -> dict:
    """The keys of an attack.json that the tables read, with made-up numbers: `values` go into
    its one result (one eps), or `results` gives the list."""
    result = {"clean_acc": 0.9, "adv_acc": 0.0, "success_rate": 1.0, "l2_median": 1.5,
              "linf_median": 0.05, "eps": 0.3, "per_class_success": {}, **values}
    return {"n": n, "transfer": list(transfer), "results": results or [result]}


# --- model 2 on the images that fooled model 1 (the report's count) ------------------------------


def test_fooled_accuracy_untargeted_counts_images_model_1_gets_wrong():
    labels = torch.tensor([0, 1, 2, 3])
    pred1 = torch.tensor([1, 1, 0, 0])        # images 0, 2, 3 fool model 1
    pred2 = torch.tensor([0, 9, 2, 1])        # model 2 right on 0 and 2 of them
    count, acc = adversarial.fooled_accuracy(pred1, pred2, labels, None)
    assert count == 3 and acc == pytest.approx(2 / 3)


def test_fooled_accuracy_targeted_counts_images_sent_to_their_target():
    labels = torch.tensor([0, 1, 2, 3])
    targets = torch.tensor([5, 5, 5, 5])
    pred1 = torch.tensor([5, 4, 5, 3])        # only 0 and 2 reach the target; 1 is wrong but missed it
    pred2 = torch.tensor([0, 1, 7, 3])
    count, acc = adversarial.fooled_accuracy(pred1, pred2, labels, targets)
    assert count == 2 and acc == pytest.approx(0.5)


def test_fooled_accuracy_is_nan_when_nothing_fooled_model_1():
    labels = torch.tensor([0, 1])
    count, acc = adversarial.fooled_accuracy(labels, labels, labels, None)
    assert count == 0 and math.isnan(acc)


# --- tables ----------------------------------------------------------------------------------------


def test_transfer_table_puts_the_reports_numbers_beside_ours():
    reports = {
        "untargeted": attack_json(transfer=[{"run": "m2", "clean_acc": 0.88, "adv_acc": 0.8}]),
        "targeted": attack_json(success_rate=0.97, l2_median=2.5,
                                transfer=[{"run": "m2", "clean_acc": 0.88, "adv_acc": 0.7}]),
    }
    fooled = {"untargeted": (1000, 0.8), "targeted": (970, 0.69)}
    table = adversarial.transfer_table(reports, fooled).set_index("attack")
    assert table.loc["untargeted", "report: model 2 acc"] == pytest.approx(0.81322427)
    assert table.loc["targeted", "report: model 2 acc"] == pytest.approx(0.64104336)
    assert list(table["report: images"]) == [7300, 5700]
    assert table.loc["targeted", "model 2 adv acc"] == 0.7
    assert table.loc["targeted", "images fooling model 1"] == 970
    assert table.loc["targeted", "model 2 acc on them"] == 0.69
    assert table.loc["targeted", "median L2"] == 2.5 and table.loc["targeted", "success rate"] == 0.97


def test_transfer_table_needs_the_transfer_to_model_2():
    with pytest.raises(ReproduceError, match="untargeted attack was not transferred"):
        adversarial.transfer_table({"untargeted": attack_json()}, {"untargeted": (0, float("nan"))})


def test_curve_table_has_one_row_per_eps_in_order():
    results = [{"eps": e, "clean_acc": 0.9, "adv_acc": a, "success_rate": s, "l2_median": l2}
               for e, a, s, l2 in ((0, 0.9, 0.0, 0.0), (0.1, 0.3, 0.67, 2.0), (0.3, 0.0, 1.0, 5.0))]
    table = adversarial.curve_table(attack_json(results=results))
    assert list(table["eps"]) == [0.0, 0.1, 0.3]
    assert list(table["adv acc"]) == [0.9, 0.3, 0.0]
    assert list(table["median L2"]) == [0.0, 2.0, 5.0]


def test_curve_table_of_a_single_eps_attack_is_one_row():
    table = adversarial.curve_table(attack_json(eps=0.5, success_rate=0.25))
    assert table.to_dict("records") == [{"eps": 0.5, "clean acc": 0.9, "adv acc": 0.0,
                                         "success rate": 0.25, "median L2": 1.5}]


def test_generator_table_orders_classes_by_number_and_ends_with_all():
    rep = attack_json(n=45, success_rate=0.9,
                      per_class_success={"3": 1.0, "0": 0.5, "10": 0.25, "1": 0.75})
    names = [*NAMES, "class10"]
    table = adversarial.generator_table(rep, names)
    assert list(table["class"]) == ["0 class0", "1 class1", "3 class3", "10 class10", "all (45 images)"]
    assert list(table["targets reached"]) == [0.5, 0.75, 1.0, 0.25, 0.9]
    assert (table["report"] == 1.0).all()


def test_generators_table_lists_each_target_generator():
    rep = attack_json(generators={"2": {"train_success": 0.5, "train_n": 100, "seconds": 1.0},
                                  "0": {"train_success": 0.9, "train_n": 90, "seconds": 2.0}})
    table = adversarial.generators_table(rep, NAMES)
    assert list(table["target"]) == ["0 class0", "2 class2"]
    assert list(table["success on them"]) == [0.9, 0.5]
    assert list(table["training images"]) == [90, 100]


def test_cifar_table_marks_the_reports_image_once_per_model_at_its_norm():
    results = [{"eps": e, "clean_acc": 0.6, "adv_acc": 0.6 - e / 2, "success_rate": e / 2,
                "l2_median": e} for e in adversarial.CIFAR_EPS]
    table = adversarial.cifar_table({"mlp": (0.61, attack_json(results=results)),
                                     "cnn": (0.7, attack_json(results=results))})
    assert len(table) == 2 * len(adversarial.CIFAR_EPS)
    marked = table[table["report"] != ""]
    assert list(marked["model"]) == ["mlp", "cnn"]
    assert (marked["L2 eps"] - 91 / 255).abs().max() < 0.001   # the report's 91 on [0, 255]
    assert list(table.loc[table["model"] == "cnn", "test acc"].unique()) == [0.7]


def test_full_settings_attack_everything_and_train_longer():
    full = adversarial.Settings.for_context(Context(out=Path("/tmp/unused-full"), full=True))
    small = adversarial.Settings()
    assert full.n is None and full.cifar_n is None and full.cifar_train_size is None
    assert full.epochs > small.epochs and full.cifar_epochs > small.cifar_epochs
    # full trains each generator on the config's 5000 images; the default on fewer
    assert not any(o.startswith("attack.train_n") for o in full.generator)
    assert "attack.train_n=2000" in small.generator


# --- the whole experiment at tiny settings --------------------------------------------------------


@pytest.mark.slow
@needs_fashion
def test_adversarial_experiment_end_to_end(tmp_path, monkeypatch, experiments_in_process):
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path / "data"))  # not the real per-user data folder
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ctx = Context(out=tmp_path, title="adversarial", seed=adversarial.SEED)
    adversarial.run(ctx, adversarial.Settings(
        epochs=1, train_size=3000, n=100, gallery=3,
        generator=(*adversarial.GENERATOR_TUNING, "attack.train_n=300", "attack.epochs=2"),
        cifar_epochs=2, cifar_train_size=1500, cifar_test_size=200, cifar_n=100,
        train_extra=("cpu_threads=1",)))
    ctx.finish(1.0)
    readme = (tmp_path / "README.md").read_text()

    transfer = pd.read_csv(tmp_path / "transfer.csv").set_index("attack")
    assert list(transfer.index) == ["untargeted", "targeted"]
    assert (transfer["images"] == 100).all()
    # 100 sign steps of 0.01 (Linf <= 0.3) fool a one-epoch LeNet on every image it got right
    assert transfer.loc["untargeted", "success rate"] == 1.0
    assert transfer.loc["untargeted", "model 1 adv acc"] == 0.0
    # every image then fools model 1, so the report's count is nnlab's transfer score
    assert transfer.loc["untargeted", "images fooling model 1"] == 100
    assert transfer.loc["untargeted", "model 2 acc on them"] == pytest.approx(
        transfer.loc["untargeted", "model 2 adv acc"])

    pgd = pd.read_csv(tmp_path / "pgd.csv")
    assert list(pgd["eps"]) == adversarial.PGD_EPS
    assert pgd["adv acc"].iloc[0] == pgd["clean acc"].iloc[0]          # eps 0 changes nothing
    assert pgd["adv acc"].is_monotonic_decreasing and pgd["adv acc"].iloc[-1] < 0.1

    generator = pd.read_csv(tmp_path / "generator.csv")
    assert list(generator["class"].str.split().str[0][:-1]) == ["0", "1", "2", "3", "4"]
    assert generator["class"].iloc[-1] == "all (45 images)"             # 5 images x 9 targets
    assert len(pd.read_csv(tmp_path / "generators.csv")) == 10

    cifar = pd.read_csv(tmp_path / "cifar_pgd_l2.csv")
    assert len(cifar) == 2 * len(adversarial.CIFAR_EPS)
    for _, rows in cifar.groupby("model"):
        assert rows["median L2"].tolist() == pytest.approx(adversarial.CIFAR_EPS, abs=1e-3)
        assert rows["success rate"].iloc[-1] >= rows["success rate"].iloc[0]

    for figure in ("attacks/untargeted/gallery.png", "attacks/targeted/gallery.png",
                   "attacks/pgd/robustness.png", "attacks/generator/targets_grid.png",
                   "cifar_pgd_l2.png", "attacks/cifar_hidden/gallery.png"):
        assert (tmp_path / figure).stat().st_size > 5000, figure
        assert f"]({figure})" in readme
    assert "GENERATED, NOT CIFAR-10" in readme or "CIFAR-10 (real)" in readme
    assert "Fashion-MNIST (real images, same shape) stands in" in readme or "dataset=mnist" in readme
    assert readme.count("nnlab attack run=") == 6 and readme.count("nnlab train ") == 4
