"""Finding a cluster's processes on this machine."""
