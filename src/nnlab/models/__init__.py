"""Model builders. Each takes `input_shape` and `num_classes` from the dataset at instantiation."""

from nnlab.models.deep import DeepStack
from nnlab.models.mlp import MLP

__all__ = ["MLP", "DeepStack"]
