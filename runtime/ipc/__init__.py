"""The wire between cluster processes: messages, framing, the leader endpoint."""
