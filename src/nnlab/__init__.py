"""nnlab: a PyTorch experiment runner for the command line."""

__version__ = "0.1.0"
