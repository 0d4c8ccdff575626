"""The command-line options: the registry every command declares its options in, the start
options derived from the contract, their click types, and the app settings, target and
environment checks they read."""
