"""oubliette: one long-running container per project, from config-named images."""

__version__ = "0.1.0"
