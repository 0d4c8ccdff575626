"""The child processes: the agent and the app workers, and what they share."""
