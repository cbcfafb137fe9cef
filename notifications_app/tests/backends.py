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
