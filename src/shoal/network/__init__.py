"""Container networking: address management (manager side) and the node's plumbing (agent side)."""
