"""The ``alexnet`` command. Each module here adds its subcommands in ``register(subparsers)``;
commands only parse arguments and call library functions."""
