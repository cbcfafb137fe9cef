"""Email backends for tests: one that fails a set number of times, one that is slow."""

import smtplib
import threading
import time

from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class FlakyBackend(LocmemBackend):
    """Raises a transient SMTP error ``failures_left`` times, then delivers to mail.outbox."""

    failures_left = 0
    error: Exception = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    calls = 0

    def send_messages(self, email_messages):
        type(self).calls += 1
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            raise type(self).error
        return super().send_messages(email_messages)


class SlowBackend(LocmemBackend):
    """Holds each send for a moment, so two racing workers really overlap."""

    delay = 0.3
    lock = threading.Lock()
    calls = 0

    def send_messages(self, email_messages):
        with type(self).lock:
            type(self).calls += 1
        time.sleep(type(self).delay)
        return super().send_messages(email_messages)


class SpoolBackend(LocmemBackend):
    """Cross-process outbox for the worker-kill tests: one file per delivered message.

    A ``pause-before-send`` file in the spool makes the next send announce itself
    (``sending``) and hang, so the test can kill the worker mid-send; the file is
    consumed, so the next worker sends at once.
    """

    def send_messages(self, email_messages):
        import os
        import uuid
        from pathlib import Path

        spool = Path(os.environ["WORKER_SPOOL_DIR"])
        for message in email_messages:
            pause = spool / "pause-before-send"
            if pause.exists():
                pause.unlink()
                (spool / "sending").write_text(message.subject)
                time.sleep(120)
            (spool / f"sent-{uuid.uuid4().hex}.eml").write_bytes(message.message().as_bytes())
        return len(email_messages)
