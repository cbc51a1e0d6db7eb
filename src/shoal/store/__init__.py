"""The revisioned store: backends (memory, SQLite, later etcd) and the typed object layer."""
