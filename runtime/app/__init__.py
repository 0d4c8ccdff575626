"""The app-facing API (`from runtime import ...`): the Application and Agent objects, the
Controller and Service base classes, the messenger and the cluster view."""
