"""`ctx.service.user`: one instance per request, created on first use."""

from runtime import Service

_USERS = {1: {"id": 1, "name": "alice"}, 2: {"id": 2, "name": "bob"}}


class UserService(Service):
    async def list(self):
        return sorted(_USERS.values(), key=lambda u: u["id"])

    async def find(self, user_id):
        return _USERS.get(user_id)

    async def create(self, data):
        if not isinstance(data, dict) or not data.get("name"):
            self.ctx.throw(422, "name is required")
        user = {"id": max(_USERS) + 1, "name": data["name"]}
        _USERS[user["id"]] = user
        return user
