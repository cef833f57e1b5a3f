"""Datasets as tensors: each split is one tensor of inputs and one of labels."""

from nnlab.data.dataset import Dataset, Plane, Split

__all__ = ["Dataset", "Plane", "Split"]
