"""Launching a cluster and stopping it: the master's command line, detaching a daemon, waiting
for its ready channel, start progress, the title lock, log rotation and the shutdown
sequence."""
