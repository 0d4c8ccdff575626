config = {"ticker": {"interval": 1.0}}
