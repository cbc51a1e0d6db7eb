"""The Docker Engine API front door."""
