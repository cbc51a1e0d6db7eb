"""Orchestrators write desired tasks for services: replicated, global, restarts, updates, reaping."""
