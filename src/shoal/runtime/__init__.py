"""Runtimes that run a task's containers: runc (default when root), process; docker and hollow later."""
