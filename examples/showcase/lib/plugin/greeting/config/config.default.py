config = {"greeting": {"prefix": "hello"}}
