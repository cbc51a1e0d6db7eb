"""Tests of the Kubernetes front door."""
