from django import forms

from sessions_app.phone import ACCEPTED_FORMS, InvalidPhone, normalize_msisdn


class PayForm(forms.Form):
    phone = forms.CharField(
        label="M-Pesa phone number",
        max_length=32,
        help_text=f"The phone that will get the M-Pesa prompt, e.g. {ACCEPTED_FORMS}.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone(self) -> str:
        try:
            return normalize_msisdn(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(exc.message, code="invalid_phone")


def local_phone(e164: str) -> str:
    """+254712345678 -> 0712345678, the form people type; anything else unchanged."""
    try:
        return "0" + normalize_msisdn(e164)[3:]
    except InvalidPhone:
        return e164 or ""
