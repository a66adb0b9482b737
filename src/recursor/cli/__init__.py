"""The command-line interface, a thin layer over `recursor.api`."""
