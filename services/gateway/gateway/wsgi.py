"""The WSGI entry for gunicorn: ``gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:app``."""
from kernel import patches

patches.install()  # before nameko and kombu are imported

from kernel import correlation  # noqa: E402

from gateway.app import create_app  # noqa: E402

correlation.setup_logging("gateway")
app = create_app()
