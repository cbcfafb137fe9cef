"""Consent to the terms of use and the privacy notice, with the version agreed to and when.

The current versions are settings.CONSENT_VERSIONS (texts in templates/sessions_app/legal/). A new
version there means everyone is asked again (sessions_app.middleware.ConsentMiddleware).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..exceptions import ValidationFailed
from ..models import Consent, User
from ..selectors.privacy import consent_versions


def consent_record(*, user: User, agreed: bool, source_ip: str | None = None) -> list[Consent]:
    """Record agreement to the current version of every text (once per version; agreeing twice is a no-op)."""
    if not agreed:
        raise ValidationFailed("Please agree to the terms of use and the privacy notice to continue.", field="agree")
    now = timezone.now()
    rows = [
        Consent(user=user, document=doc, version=version, accepted_at=now, source_ip=source_ip)
        for doc, version in consent_versions().items()
    ]
    with transaction.atomic():
        Consent.objects.bulk_create(rows, ignore_conflicts=True)
    return rows
