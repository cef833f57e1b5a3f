"""Model builders. Each takes `input_shape` and `num_classes` from the dataset at instantiation;
a model of the user's own (`model=custom`) is described in nnlab.models.custom."""

from nnlab.models.convnets import ConvNet, LeNet
from nnlab.models.custom import check_arguments, check_output, locate
from nnlab.models.deep import DeepStack
from nnlab.models.mlp import MLP
from nnlab.models.normalize import Normalized
from nnlab.models.playground import PlaygroundNet
from nnlab.objects import make

__all__ = ["MLP", "DeepStack", "LeNet", "ConvNet", "Normalized", "PlaygroundNet", "build_model"]


def build_model(model_cfg, data):
    """The model a config describes, for this dataset; image models normalise inside. A model
    that is not nnlab's own is checked as it is built: the arguments its constructor takes, and
    the shape of its logits."""
    target = str(model_cfg._target_)
    own = target.startswith("nnlab.")
    if not own:
        check_arguments(locate(target), target, [k for k in model_cfg if not _hydra_key(k)])
    shape, classes = tuple(data.input_shape), data.num_classes
    net = make(model_cfg, input_shape=shape, num_classes=classes, _convert_="all")
    if not own:
        check_output(net, target, shape, classes)
    return Normalized(net, data.mean, data.std) if data.is_image else net


def _hydra_key(key: str) -> bool:
    return key.startswith("_") and key.endswith("_")
