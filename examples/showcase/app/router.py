def router(app):
    c = app.controller
    r = app.router
    r.get("/", c.home.index, name="home")
    r.get("/pid", c.home.pid)
    r.get("/slow", c.home.slow)
    r.post("/echo", c.home.echo)
    r.get("/metrics", c.home.metrics)
    r.get("/api/greet/:name", c.home.greet, name="greet")
    r.resources("users", "/api/users", c.users)
    r.get("/api/cluster/broadcast", c.cluster.broadcast)
    r.get("/api/cluster/ticks", c.cluster.ticks)
