"""The therapist's dashboard: overview lists, one session and its actions, availability and settings."""
