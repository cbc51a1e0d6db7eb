"""The agent: runs the tasks the dispatcher assigns to its node, and reports their status."""
