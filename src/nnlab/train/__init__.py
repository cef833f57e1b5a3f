"""`nnlab train`: the task (task.py: config -> objects -> fit -> run folder), the one loop
(engine.py), resume, trackers, and the Hydra callbacks around a sweep (sweeps.py)."""
