"""The scheduler: a pipeline of filters that explain themselves, and the loop that assigns tasks."""
