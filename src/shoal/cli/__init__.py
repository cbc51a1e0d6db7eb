"""The ``shoal`` command line: ``shoal daemon``, and docker-shaped commands that speak the Engine API."""
