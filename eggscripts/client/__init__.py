"""The control channel's client side: talking to a master, choosing the clusters a command
targets, and showing their status."""
