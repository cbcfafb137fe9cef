"""The therapist directory, one therapist, and their free start times."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..models import IntakeQuestion, SessionType, TherapistProfile
from .common import ID_PATH, Pages, UserZoneMixin, errors, query_params, window_edge
from .fields import MAX_ID, DateOrDateTimeField

# The widest window /slots searches in one call.
SLOTS_MAX_WINDOW_DAYS = 62
SLOTS_DEFAULT_WINDOW_DAYS = 14


class SessionTypeSerializer(serializers.ModelSerializer):
    duration = serializers.IntegerField(source="duration_minutes", help_text="Minutes.")
    price = serializers.IntegerField(source="price_kes", help_text="Whole KES.")

    class Meta:
        model = SessionType
        fields = ["id", "name", "duration", "mode", "price"]
        read_only_fields = fields


class IntakeQuestionSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField(help_text="The answer's key in POST /api/sessions/request's `intake`.")

    class Meta:
        model = IntakeQuestion
        fields = ["key", "kind", "text", "help_text", "choices", "required"]
        read_only_fields = fields

    def get_key(self, obj) -> str:
        return f"q{obj.pk}"


class SessionTypeWithIntakeSerializer(SessionTypeSerializer):
    intake_questions = IntakeQuestionSerializer(
        many=True,
        read_only=True,
        help_text="The intake form, in order: asked (and answered in `intake`) on a client's first request with "
        "this therapist. Empty: none.",
    )

    class Meta(SessionTypeSerializer.Meta):
        fields = [*SessionTypeSerializer.Meta.fields, "intake_questions"]
        read_only_fields = fields


class TherapistSerializer(serializers.ModelSerializer):
    """A therapist as the directory shows them. Expects ``active_types`` prefetched."""

    name = serializers.CharField(source="user.full_name")
    specialties = serializers.ListField(source="specialty_list", child=serializers.CharField())
    languages = serializers.ListField(source="language_list", child=serializers.CharField())
    from_price = serializers.SerializerMethodField(help_text="Lowest price of the active session types (KES).")
    session_types = SessionTypeSerializer(source="active_types", many=True)
    time_zone = serializers.CharField(help_text="IANA zone, e.g. Africa/Nairobi.")

    class Meta:
        model = TherapistProfile
        fields = [
            "id",
            "name",
            "title",
            "bio",
            "specialties",
            "languages",
            "city",
            "accepting_new_clients",
            "time_zone",
            "min_notice_hours",
            "max_advance_days",
            "from_price",
            "session_types",
        ]
        read_only_fields = fields

    def get_from_price(self, obj) -> int | None:
        prices = [t.price_kes for t in obj.active_types]
        return min(prices) if prices else None


def _with_active_types(qs):
    return qs.prefetch_related(
        Prefetch("session_types", queryset=SessionType.objects.filter(is_active=True), to_attr="active_types")
    )


class TherapistListApi(UserZoneMixin, generics.ListAPIView):
    permission_classes = [AllowAny]
    pagination_class = Pages

    class FilterSerializer(serializers.Serializer):
        specialty = serializers.CharField(required=False, allow_blank=True, max_length=100)
        language = serializers.CharField(required=False, allow_blank=True, max_length=100)
        min_price = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)
        max_price = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)
        mode = serializers.ChoiceField(required=False, choices=SessionType.Mode.choices)
        available_this_week = serializers.BooleanField(required=False, default=False)

        def validate(self, attrs):
            low, high = attrs.get("min_price"), attrs.get("max_price")
            if low is not None and high is not None and low > high:
                raise serializers.ValidationError({"max_price": "Must not be below min_price."})
            return attrs

    OutputSerializer = TherapistSerializer
    serializer_class = OutputSerializer

    @extend_schema(
        operation_id="therapists_list",
        summary="The therapist directory",
        description="Therapists taking new clients, with their active session types. Filters combine.",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **errors(400, 401, 404)},
        tags=["therapists"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = query_params(self.FilterSerializer, self.request)
        return _with_active_types(
            selectors.therapists_directory(
                specialty=filters.get("specialty", ""),
                language=filters.get("language", ""),
                min_price=filters.get("min_price"),
                max_price=filters.get("max_price"),
                mode=filters.get("mode", ""),
                available_this_week=filters.get("available_this_week", False),
            )
        )


def _therapist_or_404(pk: int) -> TherapistProfile:
    therapist = (
        _with_active_types(TherapistProfile.objects.select_related("user").filter(user__is_active=True))
        .filter(pk=pk)
        .first()
    )
    if therapist is None:
        raise NotFound("No such therapist.")
    return therapist


class TherapistDetailSerializer(TherapistSerializer):
    """One therapist: the directory's fields, and each session type's intake form (questions, never answers)."""

    session_types = SessionTypeWithIntakeSerializer(source="active_types", many=True)


class TherapistDetailApi(UserZoneMixin, APIView):
    permission_classes = [AllowAny]
    OutputSerializer = TherapistDetailSerializer

    @extend_schema(
        operation_id="therapists_retrieve",
        summary="One therapist",
        parameters=[ID_PATH],
        responses={200: OutputSerializer, **errors(401, 404)},
        tags=["therapists"],
    )
    def get(self, request, id: int):
        therapist = _therapist_or_404(id)
        prefetch_related_objects(therapist.active_types, "intake_questions")
        return Response(self.OutputSerializer(therapist).data)


class InZoneDateTimeField(serializers.DateTimeField):
    """A moment in the zone the serializer's context names as ``tz``, ISO 8601 with its offset (never "Z")."""

    def to_representation(self, value: dt.datetime) -> str:
        return value.astimezone(self.context["tz"]).isoformat()


class TherapistSlotListApi(UserZoneMixin, APIView):
    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        session_type = serializers.IntegerField(min_value=1, max_value=MAX_ID)

        def get_fields(self):
            # "from" is a Python keyword, so it cannot be declared as a class attribute.
            return {
                **super().get_fields(),
                "from": DateOrDateTimeField(
                    required=False,
                    help_text="Start of the window: a date (therapist's zone) or a date-time. Default: now.",
                ),
                "to": DateOrDateTimeField(
                    required=False, help_text="End of the window; a date includes that whole day. Default: 14 days on."
                ),
            }

    @extend_schema_serializer(component_name="Slots")
    class OutputSerializer(serializers.Serializer):
        # Needs the therapist's zone as ``tz`` in the context: every time is given in it.

        therapist = serializers.IntegerField()
        session_type = serializers.IntegerField()
        time_zone = serializers.CharField(help_text="The therapist's zone; slots are given in it.")
        slots = serializers.ListField(child=InZoneDateTimeField(), help_text="Free start times, ISO 8601.")

        def get_fields(self):
            fields = super().get_fields()
            slots = fields.pop("slots")
            return {
                **fields,
                "from": InZoneDateTimeField(help_text="The window searched, from..."),
                "to": InZoneDateTimeField(help_text="...to (exclusive)."),
                "slots": slots,
            }

    @extend_schema(
        operation_id="therapists_slots",
        summary="Free start times",
        description=f"Free start times for one session type in a window of at most {SLOTS_MAX_WINDOW_DAYS} days, "
        "honouring the therapist's hours, time off, bookings, notice and furthest booking date.",
        parameters=[ID_PATH, FilterSerializer],
        responses={200: OutputSerializer, **errors(400, 401, 404)},
        tags=["therapists"],
    )
    def get(self, request, id: int):
        params = query_params(self.FilterSerializer, request)
        # One query on the way that succeeds: the type, its therapist and their user together.
        session_type = (
            SessionType.objects.select_related("therapist__user")
            .filter(pk=params["session_type"], therapist_id=id, is_active=True, therapist__user__is_active=True)
            .first()
        )
        if session_type is None:
            if not TherapistProfile.objects.filter(pk=id, user__is_active=True).exists():
                raise NotFound("No such therapist.")
            raise ValidationError({"session_type": ["Choose one of this therapist's session types."]})
        therapist = session_type.therapist
        tz = therapist.tz
        window_start = window_edge(params.get("from"), tz=tz, end=False) or timezone.now()
        window_end = window_edge(params.get("to"), tz=tz, end=True) or (
            window_start + dt.timedelta(days=SLOTS_DEFAULT_WINDOW_DAYS)
        )
        if window_end <= window_start:
            raise ValidationError({"to": ["Must be after from."]})
        if window_end - window_start > dt.timedelta(days=SLOTS_MAX_WINDOW_DAYS):
            raise ValidationError({"to": [f"The window can be at most {SLOTS_MAX_WINDOW_DAYS} days long."]})
        # Cached per therapist under a version their changes bump; notice and furthest date applied per read.
        slots = selectors.free_slots_cached(
            therapist=therapist, session_type=session_type, window_start=window_start, window_end=window_end
        )
        data = {
            "therapist": therapist.pk,
            "session_type": session_type.pk,
            "time_zone": therapist.time_zone,
            "from": window_start,
            "to": window_end,
            "slots": slots,
        }
        return Response(self.OutputSerializer(data, context={"tz": tz}).data)
