"""What leader and followers agree on: frames, keys and how a client class is named.

Frames are the IPC framing (`runtime.contract.framing`: 4-byte big-endian length + UTF-8 JSON object
with an `action`). A follower's first frame must be `hello` with the cluster secret;
then, in any order:

    follower -> leader                          leader -> follower
    hello     {secret, pid}                     welcome {pid}
    attach    {key, ref, args, kwargs}          push    {key, reg, data}
    subscribe / unsubscribe / publish {key, reg}  result  {id, value} | {id, error}
    invoke    {id, key, method, args, kwargs}   error   {key, message}

`reg` in a push is the canonical JSON text of the subscription (`reg_key`), computed the
same way on both sides, so one encoded push serves every follower.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from types import ModuleType
from typing import Any

from runtime.contract.framing import HEADER, MAX_FRAME, FrameDecoder
from runtime.process.module_files import load_module_file

HELLO = "hello"
WELCOME = "welcome"
ATTACH = "attach"
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
PUBLISH = "publish"
INVOKE = "invoke"
PUSH = "push"
RESULT = "result"
ERROR = "error"
# An unauthenticated peer gets this much room and time for its hello, nothing more.
MAX_HELLO = 4096
AUTH_TIMEOUT = 5.0


class ClusterClientError(Exception):
    """A follower call failed in the leader, or the leader could not be reached in time."""


# One encoder and decoder for the process: `json.dumps` with options builds a new encoder
# per call, which costs more than encoding a small message.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def frame(action: str, **fields: Any) -> bytes:
    """One frame; TypeError/ValueError (RecursionError) for data JSON cannot carry."""
    return _framed(_encode({"action": action, **fields}).encode())


def _framed(body: bytes) -> bytes:
    if len(body) > MAX_FRAME:
        raise ValueError(f"message too large ({len(body)} bytes, limit {MAX_FRAME})")
    return HEADER.pack(len(body)) + body


def push_prefix(key: str, reg: str) -> bytes:
    """The constant head of every push of one subscription: only `data` is encoded per push."""
    return f'{{"action":"{PUSH}","key":{_encode(key)},"reg":{_encode(reg)},"data":'.encode()


def push_frame(prefix: bytes, data: Any) -> bytes:
    return _framed(prefix + _encode(data).encode() + b"}")


# The leader endpoint speaks the IPC framing, so it decodes with the IPC decoder.
Decoder = FrameDecoder


def canonical(value: Any) -> str:
    """The JSON text two processes compute identically for equal values (the round trip
    first, so a tuple and a list, or an int and a str dict key, compare as JSON does)."""
    try:
        plain = json.loads(json.dumps(value, allow_nan=False))
        return json.dumps(plain, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"cluster client: {value!r} is not JSON-serializable: {exc}") from None


def reg_key(reg: Any) -> str:
    return canonical(reg)


def client_key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """One leader per class name and arguments (`KV["main"]`)."""
    return name + canonical([list(args), kwargs] if kwargs else list(args))


def follower_methods(cls: type) -> tuple[str, ...]:
    """The methods followers may call, as the class declares them (`follower_methods`)."""
    names = getattr(cls, "follower_methods", ())
    if isinstance(names, str):
        names = (names,)
    for name in names:
        if name.startswith("_") or not callable(getattr(cls, name, None)):
            raise TypeError(f"{cls.__qualname__}.follower_methods: no public method {name!r}")
    return tuple(names)


def class_ref(cls: type) -> dict[str, Any]:
    """How a follower names its class, so the agent can build a leader nobody created."""
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        path = None
    return {"module": cls.__module__, "qualname": cls.__qualname__, "file": path}


def resolve_class(ref: dict[str, Any]) -> type:
    """The class a follower named: already loaded here, importable, or loaded from the
    file the follower loaded it from (under the same module name)."""
    module_name, qualname = str(ref.get("module")), str(ref.get("qualname"))
    module = sys.modules.get(module_name)
    if module is None and not module_name.startswith("_"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    path = ref.get("file")
    if module is None and isinstance(path, str) and path.endswith(".py") and os.path.isfile(path):
        module = import_file(path, module_name)
    if module is None:
        raise LookupError(f"cannot import module {module_name!r} in the agent")
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        raise LookupError(f"no class {qualname!r} in {module_name!r}")
    return obj


_SLUG = re.compile(r"[^A-Za-z0-9_]+")


def import_file(path: str, name: str | None = None) -> ModuleType:
    """Load a Python file once per process, under a name derived from its absolute path.

    App files are not importable by module name (the app directory is not on sys.path), so
    agent.py and app code share a client class by loading the same file: the name is the
    same in every process, which is what lets the agent build a leader a follower names."""
    path = os.path.abspath(path)
    if name is None:
        name = "_eggscripts_file_" + _SLUG.sub("_", os.path.splitext(path)[0]).strip("_")
    module = sys.modules.get(name)
    if module is not None:
        return module
    return load_module_file(path, name)
