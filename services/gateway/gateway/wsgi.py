"""The WSGI entry for gunicorn: ``gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:app``."""
from kernel import correlation

from gateway.app import create_app

correlation.setup_logging("gateway")
app = create_app()
