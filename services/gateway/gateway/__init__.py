"""The eJournal gateway: the only public entry (REST /api/v1, OpenAPI, the
portal page, health and metrics). It verifies access tokens, asks identity
for access decisions and maps every service error to the API's error table.

Entry points: :func:`gateway.app.create_app` and ``gateway.wsgi:app``
(served by gunicorn with ``gateway.gunicorn_conf``)."""

import warnings

# nameko imports eventlet (deprecated) even for its standalone RPC proxy; the
# gateway never runs eventlet, so the import-time warning is noise here.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
