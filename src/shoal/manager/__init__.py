"""The manager: reconcilers that write desired state, the scheduler, and the dispatcher."""
