"""A Flask app on an eggscripts cluster: `eggscripts start --workers=2 hello:app`."""

import os

from flask import Flask, Response, request

from runtime.app import cluster

app = Flask(__name__)


@app.get("/")
def home():
    return {"hello": "flask", "worker": os.getpid()}


@app.post("/notify")
def notify():
    # The messenger works from WSGI apps too (it is thread-safe to call from the pool).
    cluster.messenger.broadcast("notified", request.get_json(silent=True))
    return {"sent": True}


@app.get("/numbers")
def numbers():
    def lines():
        for n in range(5):
            yield f"{n}\n"

    return Response(lines(), mimetype="text/plain")  # streamed, not buffered
