"""Errors a person can act on: one line on stderr, a non-zero exit, no traceback.

`UserError` is raised by our own checks (most of them nnlab.schema's, from the declarations of
every key). Hydra's composition errors (unknown option, misspelled key, unparsable override) are
rewritten into the same one-line form, with hints from the same declarations. Anything else is a
bug or an environment failure and keeps its traceback.
"""

from __future__ import annotations

import difflib
import errno
import functools
import re
import sys

from hydra._internal import utils as _hydra_internal_utils

# Captured before the CLI swaps in `report`, so unexpected errors still get Hydra's treatment.
_hydra_run_and_report = _hydra_internal_utils.run_and_report

USAGE_EXIT_CODE = 2

# Errors that mean "this place cannot be written": reported in one line, not as a bug.
_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.EEXIST,
                 errno.EDQUOT}


class UserError(Exception):
    """Bad input from the person running nnlab; the message says what to do instead.

    Also used for runs that end in a known failed state (e.g. diverged) with their own exit code.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def choice_error(what: str, value, valid) -> UserError:
    """A UserError for a value outside a fixed set of choices, with a did-you-mean hint."""
    valid = list(valid)
    hint = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
    msg = f"{what}: unknown value {value!r}; valid: {', '.join(map(str, valid))}"
    return UserError(msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def as_user_error(ex: BaseException) -> UserError | None:
    """The UserError behind `ex` (instantiate wraps errors raised in constructors), or None."""
    from hydra.errors import InstantiationException

    if isinstance(ex, UserError):
        return ex
    if isinstance(ex, InstantiationException) and isinstance(ex.__cause__, UserError):
        return ex.__cause__
    return None


def describe_hydra_error(ex: BaseException) -> str | None:
    """Turn a Hydra/OmegaConf composition error into one actionable line, or None if it is not one."""
    from hydra.errors import (
        ConfigCompositionException,
        InstantiationException,
        MissingConfigException,
        OverrideParseException,
    )

    if as_user_error(ex) is not None:
        return str(as_user_error(ex))
    if isinstance(ex, InstantiationException):
        return None  # a bug or a bad _target_: keep the traceback
    if isinstance(ex, MissingConfigException):
        return _missing_config_line(ex)
    if isinstance(ex, OverrideParseException):
        return f"cannot parse override: {one_line(ex)}"
    if isinstance(ex, ConfigCompositionException):
        return _composition_line(ex)
    if isinstance(ex, (ValueError, TypeError)) and _raised_in(ex, ("hydra.", "omegaconf.")):
        return f"invalid override: {one_line(ex)}"  # e.g. model=0: Hydra checks these itself
    return None


def _raised_in(ex: BaseException, prefixes: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ex's traceback is in a module starting with a prefix."""
    tb = ex.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith(prefixes)


def _missing_config_line(ex) -> str:
    text = str(ex)
    missing = getattr(ex, "missing_cfg_file", None) or ""
    group, _, option = missing.rpartition("/")
    options = getattr(ex, "options", None) or []
    if group and options:
        return unknown_option_line(group, option, options)
    listed = re.search(r"Could not load '([^'/]+)/([^']+)'", text)
    if listed:  # an option inside a list-valued group (probe=[boundry]): Hydra names no options
        return unknown_option_line(*listed.groups(), in_list=True)
    found = re.search(r"Could not find '([^']+)'", text)
    return f"config not found: {found.group(1) if found else one_line(text)}"


def unknown_option_line(group: str, option: str, options=None, in_list: bool = False) -> str:
    """`model=nope: no such option; valid: ... (did you mean model=mlp?)`; `options` default to
    the group's files in the config tree."""
    from nnlab.schema.keys import group_options
    from nnlab.schema.types import close_match

    options = list(options) if options is not None else group_options(group)
    shown = (lambda o: f"{group}=[{o}]") if in_list else (lambda o: f"{group}={o}")
    hint = close_match(option, options)
    line = f"{shown(option)}: no such option; valid: {', '.join(options)}"
    return line + (f" (did you mean {shown(hint)}?)" if hint else "")


def _composition_line(ex) -> str:
    text = one_line(ex)
    cause = ex.__cause__
    key = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Could not append to config\. An item is already at '([^']+)'", text
    )
    if key and cause is not None and "not in struct" in str(cause):
        return _unknown_key_line(key.group(1))
    twice = re.match(r"Multiple values for ([\w/]+)\. To override a value use 'override \1: (\S+)'", text)
    if twice:  # +experiment=x: the group is already in the defaults list (as null)
        group, option = twice.groups()
        return f"+{group}={option}: {group} is already a config group here; choose it with {group}={option}"
    detail = one_line(cause) if cause is not None else ""
    return f"{text} {detail}".strip()


def _unknown_key_line(full_key: str) -> str:
    """`epoch=5` -> unknown key 'epoch' ... (did you mean 'epochs'?), from the declared keys."""
    from nnlab.schema.keys import unknown_key_line

    return unknown_key_line(full_key, _CURRENT_CONFIG[0])


# Which primary config the running command composes (set by the CLI), used for key hints.
_CURRENT_CONFIG = ["train"]


def report(func):
    """Run `func()`; print UserErrors and composition errors as one line and exit 2.

    The CLI installs this in place of Hydra's `run_and_report`, which prints multi-line messages;
    errors we cannot describe in a line go on to Hydra's reporter and keep their traceback.
    """
    try:
        return func()
    except UserError as ex:
        die(str(ex), ex.exit_code)
    except Exception as ex:
        line = describe_hydra_error(ex) or _cannot_create_line(ex) or _cannot_write_line(ex)
        if line is None:
            return _hydra_run_and_report(functools.partial(_reraise, ex))
        die(line)


def _cannot_create_line(ex: BaseException) -> str | None:
    """A folder Hydra or nnlab makes for the run (hydra.run.dir, hydra.sweep.dir) that cannot be
    made: under a read-only or virtual file system (/proc), or a file, whatever the user."""
    if not isinstance(ex, OSError) or not ex.filename:
        return None
    tb = ex.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or tb.tb_frame.f_code.co_name not in ("mkdir", "makedirs"):
        return None
    return (f"cannot create the run folder {ex.filename}: {ex.strerror}; choose another "
            "hydra.run.dir (or hydra.sweep.dir)")


def _cannot_write_line(ex: BaseException) -> str | None:
    if isinstance(ex, OSError) and ex.errno in _CANNOT_WRITE and ex.filename:
        return (f"cannot write {ex.filename}: {ex.strerror}; choose another hydra.run.dir (or "
                "hydra.sweep.dir), or free space / fix permissions there")
    return None


def _reraise(ex: BaseException):
    raise ex


def die(line: str, exit_code: int = USAGE_EXIT_CODE) -> None:
    sys.stderr.write(f"nnlab: error: {one_line(line)}\n")
    sys.stderr.flush()
    raise SystemExit(exit_code)
