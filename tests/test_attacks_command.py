"""`nnlab attack` end to end on a LeNet trained on MNIST-format files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from conftest import nnlab, train
from nnlab.data.formats import write_idx_dataset
from nnlab.runs import load_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two LeNets (different seeds) on small MNIST-format files, 90%+ on their test split (more
    images than the shared `fake_data`: the attacks' thresholds need models that learnt)."""
    root = tmp_path_factory.mktemp("attack")
    write_idx_dataset(root / "data" / "MNIST" / "raw", n_train=1500, n_test=300)
    for name, seed in (("victim", 0), ("other", 1)):
        train(root, "dataset=mnist", "model=lenet", "epochs=3", "dataset.val_size=100",
              "optimizer.lr=0.003", f"seed={seed}", "plots=false", f"dataset.root={root / 'data'}",
              run_dir=name)
    return root


def attack(root, *args, out="att"):
    return nnlab("attack", "run=victim", f"hydra.run.dir={out}", *args, cwd=root)


def test_fgsm_writes_every_output(trained):
    proc = attack(trained, "attack=fgsm", "attack.eps=0.3", "n=200", out="fgsm")
    assert proc.returncode == 0, proc.stderr
    out = trained / "fgsm"
    report = json.loads((out / "attack.json").read_text())
    assert report["n"] == 200 and report["run"] == "victim" and report["split"] == "test"
    (result,) = report["results"]  # one entry for one eps: attack.json has one schema
    assert result["eps"] == 0.3
    assert result["clean_acc"] > 0.8
    assert result["adv_acc"] < result["clean_acc"]
    assert result["linf_mean"] == pytest.approx(0.3, abs=1e-4) or result["linf_mean"] < 0.3 + 1e-6
    assert all(len(repr(v)) <= 10 for v in result.values() if isinstance(v, float))  # rounded figures
    saved = load_checkpoint(out / "adversarial.pt")
    assert saved["adversarial"].shape == (200, 1, 28, 28)
    assert saved["indices"].tolist() == list(range(200))
    assert float((saved["adversarial"] - saved["adversarial"].clamp(0, 1)).abs().max()) == 0
    assert (out / "gallery.png").stat().st_size > 10000


def test_eps_list_gives_a_robustness_curve(trained):
    proc = attack(trained, "attack=pgd", "attack.eps=[0,0.1,0.3]", "attack.steps=10",
                  "attack.alpha=0.05", "n=100", out="curve")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(trained / "curve" / "robustness.csv")
    assert table["eps"].tolist() == [0.0, 0.1, 0.3]
    report = json.loads((trained / "curve" / "attack.json").read_text())
    assert [r["eps"] for r in report["results"]] == [0.0, 0.1, 0.3]
    assert [r["adv_acc"] for r in report["results"]] == table["adv_acc"].tolist()
    rows = (trained / "curve" / "robustness.csv").read_text().splitlines()[1:]  # after the header
    longest = max(len(cell) for line in rows for cell in line.split(","))
    assert longest <= 12, "figures are written to 6 significant digits"
    assert table["adv_acc"].iloc[0] == pytest.approx(table["clean_acc"].iloc[0])  # eps 0: no change
    assert table["adv_acc"].is_monotonic_decreasing
    assert table["adv_acc"].iloc[-1] < 0.2
    assert (trained / "curve" / "robustness.png").is_file()


def test_targeted_attack_with_random_targets_and_transfer(trained, pyplot_figures):
    """The transfer model's target success (its share of images sent to their target) stands next
    to its fooling rate, in attack.json, transfer.csv, the log and the gallery's title."""
    proc = attack(trained, "attack=targeted_sign", "target=random", "n=60", "transfer=[other]",
                  out="targeted")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((trained / "targeted" / "attack.json").read_text())
    saved = load_checkpoint(trained / "targeted" / "adversarial.pt")
    assert (saved["targets"] != saved["labels"]).all()
    (result,) = report["results"]
    assert result["success_rate"] > 0.9
    (score,) = report["transfer"]
    assert score["run"] == "other" and score["clean_acc"] > 0.8
    assert score["adv_acc"] > result["adv_acc"]  # adversarial images transfer only partly
    assert 0 <= score["target_success"] < result["success_rate"]
    assert 0 <= score["fooling_rate"] <= 1
    assert result["transfer"] == [{"run": "other", **{k: score[k] for k in
                                                      ("adv_acc", "fooling_rate", "target_success")}}]
    table = pd.read_csv(trained / "targeted" / "transfer.csv")
    columns = ["run", "clean_acc", "adv_acc", "fooling_rate", "target_success"]
    assert table.columns.tolist() == ["eps", *columns]
    assert table[columns].to_dict("records") == [{k: score[k] for k in columns}]
    assert (f"transfer to other: accuracy {score['clean_acc']:.4f} -> {score['adv_acc']:.4f}, "
            f"fooling rate {score['fooling_rate']:.4f}, target success "
            f"{score['target_success']:.4f}") in proc.stdout
    (fig,) = pyplot_figures
    assert fig._suptitle.get_text().splitlines()[-1] == (
        f"transfer to other: target reached for {score['target_success']:.1%}; accuracy "
        f"{score['clean_acc']:.3f} -> {score['adv_acc']:.3f} under attack")


def test_transfer_is_scored_per_eps(trained, pyplot_figures):
    """With a list of eps, the transfer model is scored on each eps's images: per eps in
    attack.json's results and transfer.csv, a log line each, and curves in robustness.png; the
    top-level entry says which eps it holds (the last, whose images adversarial.pt keeps)."""
    proc = attack(trained, "attack=pgd", "attack.eps=[0,0.1,0.3]", "attack.steps=10",
                  "attack.alpha=0.05", "n=60", "gallery=3", "transfer=[other]", out="transfer_curve")
    assert proc.returncode == 0, proc.stderr
    out = trained / "transfer_curve"
    report = json.loads((out / "attack.json").read_text())
    (summary,) = report["transfer"]
    per_eps = [r["transfer"][0] for r in report["results"]]
    assert [s["run"] for s in per_eps] == ["other"] * 3
    assert per_eps[0]["adv_acc"] == summary["clean_acc"] and per_eps[0]["fooling_rate"] == 0  # eps 0
    assert per_eps[2]["adv_acc"] < per_eps[0]["adv_acc"] and per_eps[2]["fooling_rate"] > 0
    assert "target_success" not in per_eps[2]  # untargeted: nothing to reach
    assert summary["eps"] == 0.3 and summary["adv_acc"] == per_eps[2]["adv_acc"]
    table = pd.read_csv(out / "transfer.csv")
    assert table["eps"].tolist() == [0.0, 0.1, 0.3] and (table["run"] == "other").all()
    assert table["adv_acc"].tolist() == [s["adv_acc"] for s in per_eps]
    assert table["fooling_rate"].tolist() == [s["fooling_rate"] for s in per_eps]
    assert "transfer" not in pd.read_csv(out / "robustness.csv").columns
    for eps, s in zip((0.0, 0.1, 0.3), per_eps, strict=True):
        assert f"eps={eps}: transfer to other: accuracy {summary['clean_acc']:.4f} -> {s['adv_acc']:.4f}" \
            in proc.stdout
    curve = pyplot_figures[0]
    lines = {line.get_label(): line for line in curve.axes[0].get_lines()}
    accuracy = lines[f"transfer to other: accuracy (clean {summary['clean_acc']:.3f})"]
    assert list(accuracy.get_ydata()) == table["adv_acc"].tolist()
    assert list(lines["transfer to other: fooling rate (of those right before)"].get_ydata()) == \
        table["fooling_rate"].tolist()


def test_a_target_class_sets_aside_the_samples_already_of_it_and_says_so(trained, pyplot_figures):
    from nnlab.runs import load_trained

    threes = int((load_trained(trained / "victim").data.splits()["test"].y[:100] == 3).sum())
    assert threes > 0
    proc = attack(trained, "attack=fgsm", "attack.eps=0.2", "target=3", "n=100", "gallery=3",
                  out="to_three")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((trained / "to_three" / "attack.json").read_text())
    assert report["set_aside"] == {"count": threes, "reason": "already of target class 3"}
    assert report["n"] == 100 - threes
    assert f"set aside {threes} of the 100 selected samples: already of target class 3" in proc.stdout
    (fig,) = pyplot_figures
    assert (f"{100 - threes} test images ({threes} set aside: already of target class 3)"
            in fig._suptitle.get_text())


def test_the_eps_0_row_of_the_gallery_is_the_clean_images_framed_neutrally(trained, pyplot_figures):
    """eps 0 changes nothing: its row is labelled clean, titled with the model's prediction, and
    no image in it is framed or titled red as "not fooled"."""
    proc = attack(trained, "attack=fgsm", "attack.eps=[0,0.3]", "n=10", "gallery=4", out="eps0")
    assert proc.returncode == 0, proc.stderr
    _, grid = pyplot_figures  # robustness.png, then the gallery
    clean_row, attacked_row = grid.axes[8:12], grid.axes[12:16]
    assert clean_row[0].get_ylabel().splitlines()[:2] == ["clean", "eps=0.0"]
    assert attacked_row[0].get_ylabel().splitlines()[:2] == ["adversarial", "eps=0.3"]
    for ax in clean_row:
        assert ax.get_title().startswith("model: ") and "fooled" not in ax.get_title()
        assert ax.title.get_color() != "tab:red"
        assert all(spine.get_edgecolor() != to_rgba("tab:red") for spine in ax.spines.values())


def test_every_other_class_as_target(trained):
    proc = attack(trained, "attack=targeted_sign", "target=all", "indices=[0,1]", out="all")
    assert proc.returncode == 0, proc.stderr
    saved = load_checkpoint(trained / "all" / "adversarial.pt")
    assert len(saved["targets"]) == 18 and saved["indices"].tolist() == [0] * 9 + [1] * 9
    assert (trained / "all" / "targets_grid.png").stat().st_size > 10000  # sample x target grid


def test_generator_attack(trained):
    """seeds/001: a generator trained on the run's training split (never the attacked images),
    the classifier frozen, sends unseen test images of classes 0 and 1 to class 3."""
    proc = attack(trained, "attack=generator", "target=3", "classes=[0,1]", "per_class=10",
                  "attack.epochs=20", "attack.batch_size=50", "attack.train_n=1000", "attack.width=8",
                  out="generator")
    assert proc.returncode == 0, proc.stderr
    out = trained / "generator"
    report = json.loads((out / "attack.json").read_text())
    saved = load_checkpoint(out / "adversarial.pt")
    assert sorted(set(saved["labels"].tolist())) == [0, 1] and saved["targets"].tolist() == [3] * 20
    (result,) = report["results"]
    assert list(result["generators"]) == ["3"] and result["generators"]["3"]["train_n"] == 1000
    assert result["generators"]["3"]["train_success"] > 0.8
    assert result["success_rate"] > 0.8
    assert result["linf_median"] <= 0.3 + 1e-6


def test_classes_and_per_class_select_samples(trained):
    proc = attack(trained, "attack=fgsm", "classes=[2,7]", "per_class=3", out="subset")
    assert proc.returncode == 0, proc.stderr
    saved = load_checkpoint(trained / "subset" / "adversarial.pt")
    labels = saved["labels"].tolist()
    assert sorted(labels) == [2, 2, 2, 7, 7, 7]
    assert saved["indices"].tolist() == sorted(saved["indices"].tolist())  # first of each class


@pytest.mark.parametrize("args,fragment", [
    (["run=nowhere"], "not a training run folder"),
    (["classes=[12]"], "classes"),
    (["per_class=0"], "per_class"),
    (["attack=generator", "attack.eps=null"], "unbounded"),
    (["attack=generator"], "attack=generator needs target=random, least_likely, all or a class index"),
    (["attack.eps=1.5"], "attack.eps"),
    (["attack=nope"], "attack=nope"),
    (["target=banana", "attack=targeted_sign"], "target"),
    (["indices=[100000]"], "indices"),
    (["attack=fgsm", "target=3", "classes=[3]"],
     "target=3: every selected sample"),
])
def test_bad_input_is_one_line(trained, args, fragment):
    proc = nnlab("attack", "run=victim", *args, cwd=trained)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert fragment in lines[0] and "Traceback" not in proc.stderr


def test_missing_run_is_one_line(tmp_path):
    proc = nnlab("attack", cwd=tmp_path)
    assert proc.returncode == 2 and "run=RUN_DIR is required" in proc.stderr


def test_attack_from_another_folder_reads_the_data_where_the_run_did(trained, tmp_path):
    """The run recorded the absolute folder of its data (summary.json's data_root), so an attack
    started elsewhere finds it; dataset.root= points an attack at the files' new place."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = nnlab("attack", f"run={trained / 'victim'}", "n=10", "hydra.run.dir=here", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((elsewhere / "here" / "attack.json").read_text())["n"] == 10
    smaller = tmp_path / "smaller"  # the same kind of files, with a 40-image test split
    write_idx_dataset(smaller / "MNIST" / "raw", n_train=1500, n_test=40)
    proc = nnlab("attack", f"run={trained / 'victim'}", f"dataset.root={smaller}", "hydra.run.dir=there",
                 cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((elsewhere / "there" / "attack.json").read_text())["n"] == 40


def test_failed_attack_leaves_no_folder_behind(tmp_path):
    """The default attack folder, outputs/attack/<date>/<time>/, is made before the attack starts:
    a failure leaves neither it (with its log) nor the empty folders above it."""
    proc = nnlab("attack", "run=no_such_run", cwd=tmp_path)
    assert proc.returncode == 2 and "not a training run folder" in proc.stderr
    assert not (tmp_path / "outputs").exists()



def test_adversarial_training_leaves_more_standing_under_pgd(trained):
    """Madry-style training (PGD examples per batch) against a normally trained LeNet, both
    attacked with the same PGD."""
    proc = train(trained, "dataset=mnist", "model=lenet", "epochs=3", "dataset.val_size=100",
                 "optimizer.lr=0.003", "plots=false", "adversarial=pgd", "adversarial.attack.eps=0.2",
                 "adversarial.attack.steps=5", "adversarial.attack.alpha=0.05",
                 f"dataset.root={trained / 'data'}", run_dir="robust")
    assert proc.returncode == 0
    scores = {}
    for run in ("victim", "robust"):
        res = nnlab("attack", f"run={run}", "attack=pgd", "attack.eps=0.2", "attack.steps=10",
                    "attack.alpha=0.03", "n=200", f"hydra.run.dir=pgd_{run}", cwd=trained)
        assert res.returncode == 0, res.stderr
        report = json.loads((trained / f"pgd_{run}" / "attack.json").read_text())
        scores[run] = report["results"][0]["adv_acc"]
    assert scores["robust"] > scores["victim"] + 0.3, scores



def test_target_alone_makes_the_attack_targeted(trained, pyplot_figures):
    """`target=` is all it takes: pgd becomes targeted PGD (attack.json records targeted: true),
    and its gallery speaks of targets and of the target success rate."""
    proc = attack(trained, "attack=pgd", "target=random", "attack.eps=0.3", "attack.steps=5",
                  "attack.alpha=0.1", "n=30", "gallery=4", out="pgd_targeted")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((trained / "pgd_targeted" / "attack.json").read_text())
    assert report["attack"]["targeted"] is True and report["target"] == "random"
    saved = load_checkpoint(trained / "pgd_targeted" / "adversarial.pt")
    assert (saved["targets"] != saved["labels"]).all()
    (result,) = report["results"]
    (fig,) = pyplot_figures
    title = fig._suptitle.get_text()
    assert "attack=pgd target=random eps=0.3 alpha=0.1 steps=5 norm=linf" in title
    assert f"target reached for {result['success_rate']:.1%}" in title
    assert [fig.axes[8 + col].title.get_text().startswith("target: ") for col in range(4)] == [True] * 4


def test_gallery_title_names_the_attack_the_run_and_the_outcome(trained, pyplot_figures):
    """The figure says which attack, with which settings, on which run (its dataset, model and
    the settings it was trained with), on how many images, and what it did."""
    proc = attack(trained, "attack=fgsm", "attack.eps=0.2", "n=50", "gallery=5", out="titled")
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads((trained / "titled" / "attack.json").read_text())["results"]
    (fig,) = pyplot_figures
    lines = fig._suptitle.get_text().splitlines()
    assert lines[0] == "attack=fgsm eps=0.2"
    assert lines[1] == "on mnist / LeNet: victim"
    assert "model=lenet epochs=3 dataset.val_size=100 optimizer.lr=0.003 seed=0" in lines[2]
    assert "plots=false" not in lines[2] and "dataset.root" not in lines[2]  # not what it computed
    assert lines[-1] == (f"50 test images: accuracy {result['clean_acc']:.3f} -> "
                         f"{result['adv_acc']:.3f} under attack")
    assert fig.get_size_inches()[0] > fig.get_size_inches()[1]  # 5 samples across, 3 rows


def test_robustness_figure_names_model_attack_and_norm(trained, pyplot_figures):
    proc = attack(trained, "attack=pgd", "attack.norm=l2", "attack.eps=[0,1.0]", "attack.steps=3",
                  "attack.alpha=0.5", "n=20", "gallery=3", out="curve_l2")
    assert proc.returncode == 0, proc.stderr
    curve, grid = pyplot_figures  # robustness.png, then the gallery: a row per eps
    ax = curve.axes[0]
    assert ax.get_title().startswith("attack=pgd alpha=0.5 steps=3 norm=l2")
    assert "on mnist / LeNet: victim" in ax.get_title()
    assert ax.get_xlabel() == "eps (L2 bound)"
    assert ax.get_legend().get_texts()[0].get_text().startswith("clean accuracy")
    assert [grid.axes[row * 3].get_ylabel().splitlines()[1] for row in (2, 3)] == ["eps=0.0", "eps=1.0"]


@pytest.mark.parametrize("args,line", [
    (["attack=targeted_sign"],
     "attack=targeted_sign needs target=random, least_likely, all or a class index: the class each "
     "sample is sent to"),
    (["attack=pgd", "attack.targeted=true"],
     "attack=pgd needs target=random, least_likely, all or a class index: the class each sample is "
     "sent to (or attack.targeted=false for an untargeted attack)"),
    (["attack=ifgsm", "target=random"],
     "target=random: attack=ifgsm has no targeted form; choose one that has (attack=cw, fgsm, "
     "generator, pgd, targeted_sign) or leave target out"),
    (["attack=pgd", "target=3", "attack.targeted=false"],
     "target=3 asks for a targeted attack, but attack.targeted=false was typed too; drop one of them"),
])
def test_targets_are_asked_for_in_command_line_words_before_any_data_loads(tmp_path, monkeypatch, args,
                                                                           line):
    from nnlab.attacks import command

    def no_loading(*_, **__):
        raise AssertionError("the run and its data were loaded before the target was checked")

    monkeypatch.setattr(command, "load_trained", no_loading)
    proc = nnlab("attack", "run=victim", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == f"nnlab: error: {line}\n"
    assert not (tmp_path / "outputs").exists()
