"""The backup service: the catalogue of backups and its schedule (nameko,
``backup.service``) and the worker that pulls every data-owning service's
Export stream into an encrypted, verified archive (``python -m backup.worker``)."""
