"""The plugin adds `ctx.helper.greet(name)`."""


def greet(self, name):
    return f"{self.app.config['greeting']['prefix']}, {name}"
