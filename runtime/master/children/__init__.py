"""The master's children: their handles and explicit states, the kinds table, how they are
spawned and reaped, their channels, the messages they send and where those are routed, and
when a dead one is replaced."""
