def router(app):
    app.router.get("/", app.controller.home.index)
    app.router.get("/pid", app.controller.home.pid)
