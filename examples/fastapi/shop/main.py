"""A FastAPI app on an eggscripts cluster: `eggscripts start --workers=2 shop.main:app`.

Everything here is plain FastAPI; `runtime.cluster` adds what a single uvicorn process
cannot have: a messenger to every worker and the agent, and a cluster-wide leader.
"""

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from runtime.app import cluster
from shop.counter import Counter

PRICES: dict[str, float] = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Runs in every worker before it accepts; raising here fails `eggscripts start`.
    cluster.messenger.on("price-changed", lambda data: PRICES.update(data))
    visits = cluster.client(Counter).create("visits")  # a follower of the agent's leader
    yield {"visits": visits}
    # Runs when the worker stops: graceful stop, reload, scale-down.


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float


@app.get("/")
async def home(request: Request) -> dict:
    return {"hello": "world", "worker": os.getpid(), "visits": await request.state.visits.incr()}


@app.put("/items")
async def set_price(item: Item) -> Item:
    cluster.messenger.broadcast("price-changed", {item.name: item.price})  # every worker
    return item


@app.get("/items/{name}")
async def get_price(name: str) -> dict:
    return {"name": name, "price": PRICES.get(name), "worker": os.getpid()}


@app.get("/countdown")
async def countdown() -> StreamingResponse:
    async def lines():
        for n in range(5, 0, -1):
            yield f"{n}\n"
            await asyncio.sleep(0.5)

    return StreamingResponse(lines(), media_type="text/plain")


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
