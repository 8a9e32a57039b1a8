"""The device's web view: live stream, enrol, gallery, identify a photo, JSON API.

``start`` serves it beside ``edge-identify --serve``; ``create_app`` makes the Flask app
(for tests, or another WSGI server). Flask is imported here and nowhere else in edge/.
"""
from edge.web.app import create_app
from edge.web.server import start

__all__ = ["create_app", "start"]
