"""One module per seed experiment; see scripts/reproduce.py."""
