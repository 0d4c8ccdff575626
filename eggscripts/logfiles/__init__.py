"""Following a cluster's log files."""
