"""`nnlab train`: the task (task.py: config -> objects -> fit -> run folder), building the objects
(build.py), the one loop (engine.py) and what one batch computes (steps.py), resume and the
checkpoint's contents (resume.py), the summary and figures (record.py), trackers, and the Hydra
callbacks around a sweep (sweeps.py)."""
