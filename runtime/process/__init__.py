"""Per-process plumbing every runtime process shares: logging, privileges, limits, private
files, tasks, the process title, errors."""
