"""consent_wording: the versioned words people tick to consent; consent_event.wording_id

Version 1 is the wording the registration form recorded until now, in every language of the
catalogues (as the form showed it); each existing consent record whose text is one of them
points at that row. Records without text (imports, withdrawals) point at none.

Revision ID: 0019
Revises: 0018
"""

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from alembic import op
from babel.support import Translations

import mailer.dbtypes

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The English wording as the code had it (registration.CONSENT_TEXT before versions existed).
VERSION_1 = (
    "I agree to receive the network's news, announcements and event invitations by email, and to "
    "the processing of the details I gave for that purpose, as described in the privacy notice. "
    "I can unsubscribe or erase my data at any time."
)
CATALOGUES = Path(__file__).resolve().parents[2] / "translations"


def _version_1() -> dict[str, str]:
    texts = {"en": VERSION_1}
    for folder in sorted(CATALOGUES.glob("*/LC_MESSAGES/messages.mo")):
        language = folder.parts[-3]
        translated = Translations.load(str(CATALOGUES), [language]).gettext(VERSION_1)
        if language != "en" and translated:
            texts[language] = translated
    return texts


def upgrade() -> None:
    wording = op.create_table(
        "consent_wording",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version", "language", name="uq_consent_wording_version_language"),
    )
    with op.batch_alter_table("consent_event") as batch:
        batch.add_column(sa.Column("wording_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_consent_event_wording_id", "consent_wording", ["wording_id"], ["id"]
        )
    now = datetime.now(UTC)
    bind = op.get_bind()
    event = sa.table(
        "consent_event", sa.column("wording_id", sa.Integer), sa.column("consent_text", sa.Text)
    )
    for language, text in _version_1().items():
        wording_id = bind.execute(
            wording.insert()
            .values(version=1, language=language, text=text, created_at=now, created_by="migration")
            .returning(wording.c.id)
        ).scalar_one()
        bind.execute(
            event.update().where(event.c.consent_text == text).values(wording_id=wording_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_event") as batch:
        batch.drop_constraint("fk_consent_event_wording_id", type_="foreignkey")
        batch.drop_column("wording_id")
    op.drop_table("consent_wording")
