"""The cluster's life as the master drives it: the cluster state and its phases, the operations
lent to collaborators, startup, the reconciling pool, recycling, rolling reload, graceful
stop, watchdogs, signals and timers."""
