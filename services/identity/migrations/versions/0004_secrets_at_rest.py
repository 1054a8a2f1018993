"""secrets at rest: TOTP secrets and signing keys sealed with the KEK (identity.sealing)

``totp_secrets.secret`` becomes ``secret_sealed`` (Text: a sealed value is
longer than the secret) and ``signing_keys.private_pem`` becomes
``private_key_sealed``; every existing row is sealed in the same
transaction, and each stored recovery-code SHA-256 is replaced by its
KEK-keyed HMAC (``h1:...``). The KEK is loaded only when there are rows to
change, so a fresh database needs none. The downgrade opens the secrets
again (it needs the same KEK); an HMAC cannot be undone, so it drops the
unused recovery codes (TOTP itself keeps working; users issue new codes).

Revision ID: 0004_secrets_at_rest
Revises: 0002_access
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0004_secrets_at_rest'
down_revision = '0002_access'
branch_labels = None
depends_on = None

def _rows(conn, table: str, key: str, column: str):
    return conn.execute(sa.text(f"SELECT {key}, {column} FROM {table}")).all()


def _rewrite(conn, table: str, key: str, column: str, change) -> None:
    for row_key, value in _rows(conn, table, key, column):
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :value WHERE {key} = :key"),
                     {"value": change(row_key, value), "key": row_key})


def upgrade() -> None:
    from identity import sealing

    with op.batch_alter_table('totp_secrets') as batch:
        batch.alter_column('secret', new_column_name='secret_sealed', existing_type=sa.String(length=64),
                           type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table('signing_keys') as batch:
        batch.alter_column('private_pem', new_column_name='private_key_sealed', existing_type=sa.Text(),
                           existing_nullable=False)
    conn = op.get_bind()
    boxes = []

    def seal(context):
        def change(row_key, value):
            if sealing.is_sealed(value):  # already sealed (a re-run after a partial upgrade)
                return value
            if not boxes:
                boxes.append(sealing.box())
            return boxes[0].seal(value, context=context(row_key))
        return change

    _rewrite(conn, 'totp_secrets', 'user_id', 'secret_sealed', seal(sealing.totp_context))
    _rewrite(conn, 'signing_keys', 'kid', 'private_key_sealed', seal(sealing.signing_key_context))

    def pepper(row_key, value):
        hashes = json.loads(value) if isinstance(value, str) else list(value or [])
        return json.dumps([h if h.startswith(sealing.RECOVERY_PREFIX) else sealing.box().recovery_digest(h)
                           for h in hashes])

    _rewrite(conn, 'totp_secrets', 'user_id', 'recovery_hashes', pepper)


def downgrade() -> None:
    from identity import sealing

    conn = op.get_bind()

    def unseal(context):
        def change(row_key, value):
            return sealing.box().open(value, context=context(row_key)) if sealing.is_sealed(value) else value
        return change

    _rewrite(conn, 'totp_secrets', 'user_id', 'secret_sealed', unseal(sealing.totp_context))
    _rewrite(conn, 'signing_keys', 'kid', 'private_key_sealed', unseal(sealing.signing_key_context))
    _rewrite(conn, 'totp_secrets', 'user_id', 'recovery_hashes', lambda row_key, value: "[]")
    with op.batch_alter_table('signing_keys') as batch:
        batch.alter_column('private_key_sealed', new_column_name='private_pem', existing_type=sa.Text(),
                           existing_nullable=False)
    with op.batch_alter_table('totp_secrets') as batch:
        batch.alter_column('secret_sealed', new_column_name='secret', existing_type=sa.Text(),
                           type_=sa.String(length=64), existing_nullable=False)
