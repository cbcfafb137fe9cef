"""Keep the read caches true (sessions_app/caching.py): every save or delete of a row a cache reads
bumps that cache's version, whoever makes it (a service, the admin, a shell)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from . import caching
from .models import Session, SessionType, TherapistProfile, TimeOff, User, WeeklyAvailability


def _therapist_rows_changed(sender, instance, **kwargs) -> None:
    # A session, weekly hours or time off: that therapist's free slots.
    caching.bump(caching.slots_name(instance.therapist_id))


def _profile_changed(sender, instance, **kwargs) -> None:
    # Name shown, accepting, specialties, from-price, buffer, notice, zone: the listing and the slots.
    caching.bump(caching.DIRECTORY, caching.slots_name(instance.pk))


def _session_type_changed(sender, instance, **kwargs) -> None:
    caching.bump(caching.DIRECTORY)


def _user_changed(sender, instance, update_fields=None, **kwargs) -> None:
    # A therapist's name or active flag is on the directory; a login only stamps last_login.
    if instance.role != User.Role.THERAPIST or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    caching.bump(caching.DIRECTORY)


def connect() -> None:
    for model in (Session, WeeklyAvailability, TimeOff):
        post_save.connect(_therapist_rows_changed, sender=model, dispatch_uid=f"caching-{model.__name__}-save")
        post_delete.connect(_therapist_rows_changed, sender=model, dispatch_uid=f"caching-{model.__name__}-delete")
    post_save.connect(_profile_changed, sender=TherapistProfile, dispatch_uid="caching-profile-save")
    post_delete.connect(_profile_changed, sender=TherapistProfile, dispatch_uid="caching-profile-delete")
    post_save.connect(_session_type_changed, sender=SessionType, dispatch_uid="caching-type-save")
    post_delete.connect(_session_type_changed, sender=SessionType, dispatch_uid="caching-type-delete")
    post_save.connect(_user_changed, sender=User, dispatch_uid="caching-user-save")
