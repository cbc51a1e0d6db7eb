"""The Kubernetes front door: translates the Kubernetes API to the core."""
