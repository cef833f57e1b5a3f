"""hydra_plugins/nnlab_launcher/template.py: a sweep's jobs as a template plus values, checked
whole once and then one changed key at a time."""

from __future__ import annotations

import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from hydra_plugins.nnlab_launcher.template import SweepComposer
from nnlab.errors import UserError


@pytest.fixture
def composer():
    GlobalHydra.instance().clear()
    with initialize_config_module("nnlab.configs", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("train", overrides=["hydra/launcher=vectorized"],
                                           run_mode=RunMode.MULTIRUN)
        made = SweepComposer(loader.load_sweep_config)
        yield lambda overrides: made.spec(master, overrides)
    GlobalHydra.instance().clear()


def test_an_interpolation_that_reads_a_swept_key_follows_it(composer):
    spec = composer(["seed=1", "scheduler=cosine"])
    assert "dataset.seed" in spec.template.reads({"seed"})  # the toy data follows the seed
    assert "scheduler.T_max" in spec.template.reads({"epochs"})  # cosine's horizon: ${epochs}
    assert spec.template.reads({"optimizer.lr"}) == {"optimizer.lr"}
    derived = composer(["seed=7", "scheduler=cosine"])
    assert derived.template is spec.template and not derived.composed
    with derived.template.applied(derived.values) as config:
        assert config.dataset.seed == 7


def test_a_derived_job_is_checked_in_the_keys_it_changes(composer):
    first = composer(["seed=0", "optimizer.lr=0.1", "model.hidden=[8]"])
    first.check(0, ["optimizer.lr=0.1"])  # the template, whole
    assert first.template.validated
    for overrides, message in ((["seed=0", "optimizer.lr=-1", "model.hidden=[8]"], "optimizer.lr"),
                               (["seed=0", "optimizer.lr=0.1", "model.hidden=[0]"], "model.hidden"),
                               (["seed=-3", "optimizer.lr=0.1", "model.hidden=[8]"], "seed")):
        bad = composer(overrides)
        assert bad.template is first.template  # derived, not composed again
        with pytest.raises(UserError, match=rf"^job 4 \(.*\): {message}.*; no job was run$"):
            bad.check(4, overrides[:2])
    good = composer(["seed=2", "optimizer.lr=0.3", "model.hidden=[4,4]"])
    good.check(5, [])
    assert good.checked
