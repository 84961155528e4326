"""The ``flockwatch`` command: :mod:`flockwatch.cli.app` holds the Typer app and its top-level commands; the
``alerts``, ``graph``, ``media``, ``text`` and ``train`` groups have a module each."""
