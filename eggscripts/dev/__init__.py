"""The development mode's code watcher."""
