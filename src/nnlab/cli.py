"""`nnlab <command> [hydra args]`: picks the task, then hands the rest of argv to Hydra.

Everything after the command is Hydra's own command line (overrides, -m, --cfg job, --help,
hydra.run.dir=..., shell completion), composed from the config tree shipped as `nnlab.configs`.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib import import_module
from pathlib import Path

# command -> (module holding `run(cfg)`, primary config name, one-line description)
COMMANDS = {
    "train": ("nnlab.train.task", "train", "train a model and write a run folder"),
    "attack": ("nnlab.attacks.command", "attack",
               "attack a trained model: adversarial examples and robustness"),
}
# command -> (module holding `main(argv)`, one-line description): plain commands, not Hydra apps
PLAIN_COMMANDS = {
    "report": ("nnlab.report.command", "tabulate and plot a sweep's jobs (or any run folders)"),
}

USAGE = "usage: nnlab {" + ",".join([*COMMANDS, *PLAIN_COMMANDS]) + "} [arguments]"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-sc", "--shell-completion") and _completion_query(argv):
        argv = _route_completion_query(argv)
        if argv is None:
            return
    if not argv or argv[0] in ("-h", "--help"):
        _print_usage()
        return
    if argv[0] in ("-V", "--version"):
        from nnlab import __version__

        print(f"nnlab {__version__}")
        return
    command, rest = argv[0], argv[1:]
    if command in PLAIN_COMMANDS:
        import_module(PLAIN_COMMANDS[command][0]).main(rest)
        return
    if command not in COMMANDS:
        from nnlab.errors import choice_error, die

        die(str(choice_error("command", command, [*COMMANDS, *PLAIN_COMMANDS])))
    run_hydra_app(command, rest)


def run_hydra_app(command: str, args: list[str]) -> None:
    """Run the Hydra app of `command` with `args` as its command line."""
    import hydra
    from hydra._internal import utils as hydra_internal_utils
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.plugins import Plugins
    from hydra.types import RunMode

    from hydra_plugins.nnlab_launcher.forking_joblib_launcher import ForkingJoblibLauncher
    from hydra_plugins.nnlab_launcher.sweeper import NnlabSweeper
    from hydra_plugins.nnlab_launcher.vectorized_launcher import VectorizedLauncher
    from nnlab import errors, schema
    from nnlab.runs import discard_unused_run_folder, fail_job
    from nnlab.train import sweeps

    module_name, config_name, _ = COMMANDS[command]
    args = _with_resume_folder(args)
    _register_help()
    # configs/hydra/launcher/joblib.yaml keeps the joblib plugin's name on purpose (users type
    # hydra/launcher=joblib) and is checked against the plugin's schema, as it should be; Hydra
    # 1.3 warns about that match on every joblib sweep (a change planned for 1.4, which
    # pyproject.toml excludes): four lines a user can do nothing about.
    warnings.filterwarnings("ignore", message=r"\n'hydra/launcher/joblib' is validated against ConfigStore",
                            category=UserWarning)
    task = import_module(module_name).run
    errors._CURRENT_CONFIG[0] = config_name
    # Hydra finds plugins by scanning the hydra_plugins folders, which misses ours in an editable
    # install (setuptools maps it through an import hook); registering it by hand always works.
    Plugins.instance().register(ForkingJoblibLauncher)
    Plugins.instance().register(VectorizedLauncher)
    Plugins.instance().register(NnlabSweeper)

    @hydra.main(version_base="1.3", config_path="pkg://nnlab.configs", config_name=config_name)
    def app(cfg):
        try:
            # Every key against its declaration before anything is built or written. A resumed
            # run is the run's own config, not this composition: resume.resumed_config checks it.
            if not cfg.get("resume"):
                schema.validate(cfg, command, HydraConfig.get().runtime.choices)
            return task(cfg)
        except Exception as ex:
            user_error = errors.as_user_error(ex)
            out = Path(HydraConfig.get().runtime.output_dir)
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                # One job's failure must not stop the sweep: record it in the job's folder and
                # go on; the SweepOutcome callback fails the command once every job has run.
                hc = HydraConfig.get()
                fail_job(out, ex, list(hc.overrides.task), Path(hc.sweep.dir))
                return None
            if user_error is None:
                raise
            # Bad input found before training leaves no empty run folder behind, and a single
            # run ends with one line (Hydra would add its own "Error executing job" line first).
            discard_unused_run_folder(out)
            errors.die(str(user_error), user_error.exit_code)

    # Hydra reads sys.argv; argv[0] names the program in --help and shell completion.
    saved_argv, saved_reporter = sys.argv, hydra_internal_utils.run_and_report
    sys.argv = [f"{os.path.basename(saved_argv[0] or 'nnlab')}"] + args
    hydra_internal_utils.run_and_report = errors.report
    try:
        errors.report(app)
    except BaseException as ex:
        tracking = sys.modules.get("nnlab.train.mlflow_logger")
        if tracking is not None:  # a sweep stopped early: its MLflow parent run must not stay RUNNING
            signalled = isinstance(ex, SystemExit) and isinstance(ex.code, int) and ex.code > 128
            refused = isinstance(ex, SystemExit) and ex.code == errors.USAGE_EXIT_CODE
            tracking.end_open_sweeps(interrupted=isinstance(ex, KeyboardInterrupt) or signalled,
                                     refused=refused)
        raise
    finally:
        sys.argv, hydra_internal_utils.run_and_report = saved_argv, saved_reporter
    if sweeps.sweep_problems:
        problem = sweeps.sweep_problems.pop()
        errors.die(str(problem), problem.exit_code)


def _register_help() -> None:
    """`${nnlab_help:train}` in a command's hydra.help.template: its groups and keys, a line each
    (nnlab.schema.help), from the config Hydra composed for --help. `$` is doubled because Hydra
    passes the text through string.Template."""
    from omegaconf import OmegaConf

    def command_help(command, _root_):
        from nnlab.schema.help import command_help

        return command_help(str(command), _root_).replace("$", "$$")

    OmegaConf.register_new_resolver("nnlab_help", command_help, replace=True)


def _with_resume_folder(args: list[str]) -> list[str]:
    """`resume=RUN_DIR` continues in RUN_DIR: Hydra's run folder becomes that folder, and
    Hydra's record of this invocation goes to .hydra/resume/ so the original .hydra/ is kept."""
    from nnlab import errors
    from nnlab.train.resume import check_resumable, hydra_overrides, resume_dir_from_args

    run_dir = resume_dir_from_args(args)
    if run_dir is None or any(a in ("-m", "--multirun") for a in args):
        return args
    # before Hydra opens the folder's train.log: a folder that cannot be resumed keeps nothing
    errors.report(lambda: check_resumable(run_dir))
    return [*hydra_overrides(args), f"hydra.run.dir={run_dir}", "hydra.output_subdir=.hydra/resume"]


def _print_usage() -> None:
    print(USAGE)
    print()
    for name, entry in {**COMMANDS, **PLAIN_COMMANDS}.items():
        print(f"  {name:<8} {entry[-1]}")  # the description is last in both tables
    print()
    print("`nnlab <command> --help` lists that command's config groups and options.")
    print("Shell completion (bash): eval \"$(nnlab train -sc install=bash)\"")


def _completion_query(argv: list[str]) -> bool:
    return any(a.startswith("query=") for a in argv[1:])


def _route_completion_query(argv: list[str]) -> list[str] | None:
    """Completion asks `nnlab -sc query=bash` with COMP_LINE='nnlab train model=...'.

    Route the query to the command named in the line, with that word removed so Hydra sees only
    its own overrides; while the command itself is being typed, offer the command names.
    """
    words = os.environ.get("COMP_LINE", "").split(" ")
    typed = words[1] if len(words) > 1 else ""
    if len(words) <= 2 or typed not in COMMANDS:
        if len(words) <= 2:  # after a plain command, nothing: bash completes file names
            print(" ".join(c for c in [*COMMANDS, *PLAIN_COMMANDS] if c.startswith(typed)))
        return None
    os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]])
    return [typed, *argv]
