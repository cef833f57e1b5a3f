"""Keys of `nnlab train` that say how one invocation runs, not what a job computes.

They may differ between the commands that start and continue a sweep (a continuation that changes
any other key is refused: train/continuation.py), and a report never counts them as swept
(report/differences.py). Kept apart from nnlab.schema, which imports torch: `nnlab report` reads
run folders without it. Each key is still declared, with its type, in nnlab.schema.commands.
"""

# dataset.root: the same files, found elsewhere (another shell, another machine); plots and
# figures: what is drawn, not what is computed.
PER_INVOCATION = ("progress", "skip_completed", "resume", "cpu_threads", "objective", "dataset.root",
                  "plots", "figures")

_UNDER = tuple(f"{key}." for key in PER_INVOCATION)


def per_invocation(key: str) -> bool:
    """Whether the dotted `key` is one of PER_INVOCATION or lies under one (figures.dpi)."""
    return key in PER_INVOCATION or key.startswith(_UNDER)
