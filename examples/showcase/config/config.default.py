"""Defaults for every env; `config.<env>.py|yaml` layers on top."""


def config(app_info):
    return {
        # app middleware, outermost first; options live under the middleware's name
        "middleware": ["metrics", "response_time"],
        "response_time": {"match": "/api", "header": "x-response-time"},
        "showcase": {"greeting": f"hello from {app_info.name}", "api_token": "change-me"},
        "bodyparser": {"limit": "1mb"},
    }
