# Makes the config tree importable as `nnlab.configs` (see pyproject.toml), so Hydra can find it
# with `pkg://nnlab.configs` from any working directory once nnlab is installed.
