"""Plugins: a local one, by path relative to the app."""

plugin = {
    "greeting": {"enable": True, "path": "lib/plugin/greeting"},
    "ticker": {"enable": True, "path": "lib/plugin/ticker"},  # a leader/follower client
}
