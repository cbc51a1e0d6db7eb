"""Core object model shared by every front door, the manager and the agent."""
