"""A class controller mapped with `app.router.resources("users", "/api/users", ...)`."""

from runtime import Controller


class UsersController(Controller):
    async def index(self):
        self.ctx.body = await self.service.user.list()

    async def show(self):
        user = await self.service.user.find(int(self.ctx.params["id"]))
        if user is None:
            self.ctx.throw(404, f"no user {self.ctx.params['id']}")
        self.ctx.body = user

    async def create(self):
        user = await self.service.user.create(self.ctx.request.body)
        self.ctx.status = 201
        self.ctx.body = user
