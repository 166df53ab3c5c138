"""Subcommands of ``pianoroll-gan``; see :mod:`pianoroll_gan.cli` for the contract."""
