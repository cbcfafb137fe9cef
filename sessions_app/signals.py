"""What sessions_app announces. Other apps connect; sessions_app imports none of them.

``session_changed`` is sent after the transaction that changed the session has
committed (never for a rolled-back change) with ``session_id``, ``action``,
``from_status``, ``to_status`` and ``actor_id``.
"""

from django.dispatch import Signal

session_changed = Signal()
