"""`python -m nnlab ...` is the same as the `nnlab` console script."""

from nnlab.cli import main

if __name__ == "__main__":
    main()
