class Boot:
    def __init__(self, app):
        self.app = app

    def did_load(self):
        self.app.greeting_plugin_loaded = True
