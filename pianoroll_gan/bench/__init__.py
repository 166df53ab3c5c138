"""Benchmarks behind ``pianoroll-gan bench``.

Each module ``<part>.py`` provides ``run(quick: bool = False) -> dict``: it prints its
figures as it measures them and returns them for the JSON report.
"""
