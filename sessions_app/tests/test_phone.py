import pytest

from sessions_app.phone import InvalidPhone, mask, normalize_msisdn, to_e164


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("712345678", "254712345678"),
        ("+254712345678", "254712345678"),
        ("254712345678", "254712345678"),
        ("+254 712-345 678", "254712345678"),
        ("0712 345 678", "254712345678"),
        ("(0712) 345.678", "254712345678"),
        ("+254112345678", "254112345678"),
    ],
)
def test_accepted_forms(raw, expected):
    assert normalize_msisdn(raw) == expected
    assert to_e164(raw) == "+" + expected


@pytest.mark.parametrize(
    "raw", ["", "12345", "0812345678", "25471234567", "+1 202 555 0100", "07123456789", "abc", None]
)
def test_rejected_forms_name_the_accepted_ones(raw):
    with pytest.raises(InvalidPhone) as exc:
        normalize_msisdn(raw)
    assert "07XX XXX XXX" in exc.value.message


def test_mask():
    assert mask("254712345678") == "2547******78"
