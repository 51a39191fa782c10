"""One module per ``swsim`` subcommand; each exposes ``register(subparsers)``. See ``sim/cli.py``."""
