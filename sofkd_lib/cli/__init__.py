"""``python -m sofkd_lib COMMAND``: the entry point and one module per command."""
