"""The master process: one loop keeping an agent and N app workers alive (no app code)."""
