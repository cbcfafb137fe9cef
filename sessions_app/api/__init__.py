"""The JSON API (DRF) for therapists, slots and sessions; the M-Pesa endpoints live in payments_app.api.

One ``<Entity><Action>Api`` class per operation, each with its own ``InputSerializer``/
``FilterSerializer``/``OutputSerializer``: auth.py (tokens), therapists.py, sessions.py.
errors.py holds the one error shape and the JSON parser; urls.py the routes; common.py and
fields.py what the views and serializers share.
"""
