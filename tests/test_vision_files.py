"""nnlab/data/vision.py's parsers of torchvision's files, fed random bytes: the data loads, or
the error is one line naming the file (never a crash deep in numpy or pickle).

(The rest of vision.py's tests are in test_vision.py.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.data.formats import write_cifar_dataset, write_idx_dataset
from nnlab.data.vision import make_vision
from nnlab.errors import UserError


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
       st.binary(max_size=3000), st.booleans())
def test_random_bytes_as_idx_files_load_or_fail_clearly(tmp_path_factory, name, data, keep_header):
    root = tmp_path_factory.mktemp("idx")
    raw = write_idx_dataset(root / "MNIST" / "raw", n_train=50, n_test=20)
    path = raw / name
    original = path.read_bytes()
    path.write_bytes((original[:16] if keep_header else b"") + data)
    try:
        d = make_vision("mnist", root=str(root), val_size=0, download=False)
        assert len(d.train.x) == len(d.train.y) and len(d.test.x) == len(d.test.y)
    except UserError as ex:
        assert "\n" not in str(ex)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_cifar_batch_fail_clearly(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("cifar")
    folder = write_cifar_dataset(root / "cifar-10-batches-py", per_batch=10, n_test=10)
    (folder / "data_batch_2").write_bytes(data)
    with pytest.raises(UserError, match="data_batch_2"):
        make_vision("cifar10", root=str(root), val_size=0, download=False)
