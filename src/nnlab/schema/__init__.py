"""Every key a user can type, declared once with its type and range; configs checked against it.

    nnlab.schema.validate(cfg, "train")   # before anything is built or written

- `types`: the vocabulary (Int(min=1), Float(0, 1, max_open=True), Bool(), Choice([...]),
  Optional(...), ListOf(...), ...); each type checks one value and says what is valid.
- `options`: every option of every config group, keyed by the `_target_` it instantiates (the
  keys are that callable's arguments), with rules for keys that only work together.
- `commands`: the top-level keys of `nnlab train` and `nnlab attack`, and the groups they hold.
- `validate`: walks the composed, resolved config; the first problem is one UserError line.
- `validate_keys`: the same for a few top-level keys (a sweep job that differs from a checked one).
- `keys`: every declared key, for did-you-mean hints (also on Hydra's own unknown-key errors).

Why a declaration table walked after composition, and not Hydra structured configs (dataclasses
in the ConfigStore)? Structured configs type-check while Hydra composes, in OmegaConf's words and
over several lines, and they coerce instead of refusing ('yes' becomes true for a bool field,
'3' becomes 3). They have no ranges, so a second mechanism would be needed anyway; and a group
such as `model` holds nodes of different classes (an MLP's keys are not LeNet's), which one
dataclass per group cannot describe without a schema per option file wired into the defaults
lists. The table is plain data: the messages are ours, one per line, with did-you-mean; the
same declarations check the attack classes' arguments from Python; and a test walks them all.
"""

from nnlab.schema.validate import check_arguments, check_value, validate, validate_keys

__all__ = ["check_arguments", "check_value", "validate", "validate_keys"]
