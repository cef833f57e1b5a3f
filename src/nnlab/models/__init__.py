"""Model builders. Each takes `input_shape` and `num_classes` from the dataset at instantiation."""

from hydra.utils import instantiate

from nnlab.models.convnets import ConvNet, LeNet
from nnlab.models.deep import DeepStack
from nnlab.models.mlp import MLP
from nnlab.models.normalize import Normalized
from nnlab.models.playground import PlaygroundNet

__all__ = ["MLP", "DeepStack", "LeNet", "ConvNet", "Normalized", "PlaygroundNet", "build_model"]


def build_model(model_cfg, data):
    """The model a config describes, for this dataset; image models normalise inside."""
    net = instantiate(model_cfg, input_shape=tuple(data.input_shape), num_classes=data.num_classes)
    return Normalized(net, data.mean, data.std) if data.is_image else net
