"""The Kubernetes kinds in the manager: the object API the Kubernetes door uses (``objects.py``) and
the controllers that keep namespaces, service accounts and events (the rest of this package)."""
