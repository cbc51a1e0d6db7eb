"""Front doors: thin translators from the Docker Engine API (and later the Kubernetes API) to the core."""
