"""`nnlab report`: collect run folders (jobs.py), tables (command.py), the curves figure (figure.py)."""
