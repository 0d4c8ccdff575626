"""Production supervision: the listening socket, the ready channel back to `start --daemon`,
systemd notifications, the health port and its metrics, and orphaned processes."""
