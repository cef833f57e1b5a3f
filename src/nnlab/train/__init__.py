"""`nnlab train`: the task (task.py: config -> objects -> fit -> run folder) and its run context
(context.py), building the objects (build.py), the one loop (engine.py, monitors.py) and what one
batch computes (steps.py), a run's records (records.py) and a group's (group_metrics.py,
group_checkpoints.py; groups: group.py, stack.py), resume and the checkpoint's contents
(resume.py), the summary and figures (record.py), trackers, and the Hydra callbacks around a
sweep (sweeps.py)."""
