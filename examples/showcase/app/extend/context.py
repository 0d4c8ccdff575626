"""Attached to the Context class: `ctx.is_ajax`."""


@property
def is_ajax(self):
    return self.get("x-requested-with").lower() == "xmlhttprequest"
