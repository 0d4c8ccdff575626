"""The private control channel: its socket file, its connections, the commands it answers and
the status report."""
