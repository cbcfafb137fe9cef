#!/usr/bin/env python3
"""Drive one booking end to end over the JSON API of a running `make run` server.

    .venv/bin/python scripts/booking_flow.py [--base-url http://127.0.0.1:8000] [--phone 0712345670]

Logs in as the demo client and therapist, finds a free slot, requests it,
approves it as the therapist, pays with M-Pesa (the simulator decides the
outcome from the phone's last digit: 0/8/9 paid, 1 insufficient balance,
2 cancelled, 3 unreachable, 4 wrong PIN, 5 paid without a callback, 6 paid with
a duplicate callback, 7 expired), and follows the payment until it is final.
Prints each step; exits 0 only when the session ends Confirmed / Paid.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import struct
import sys
import time
import uuid

import requests

PASSWORD = "demo-pass-2026"


class FlowError(Exception):
    pass


class Api:
    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, *, token: str | None = None, expect=(200,), **kwargs) -> dict:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        url = f"{self.base_url}{path}"
        try:
            response = requests.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise FlowError(f"{method} {path}: could not reach the server at {self.base_url} ({exc}).")
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:200]}
        if response.status_code not in expect:
            message = body.get("message") if isinstance(body, dict) else body
            raise FlowError(f"{method} {path} answered {response.status_code}: {message}")
        return body


def step(number: int, text: str) -> None:
    print(f"[{number}] {text}", flush=True)


def results(body):
    return body["results"] if isinstance(body, dict) and "results" in body else body


def totp_code(secret: str, at: float | None = None) -> str:
    """The 6-digit code an authenticator app shows now for a base32 ``secret`` (RFC 6238: SHA-1, 30 s)."""
    key = base64.b32decode(secret.replace(" ", "").upper())
    counter = struct.pack(">Q", int((time.time() if at is None else at) // 30))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def run(args) -> int:
    api = Api(args.base_url, timeout=30)

    step(1, f"Log in as {args.client} and {args.therapist}")
    client = api.call("POST", "/api/auth/token", json={"email": args.client, "password": args.password})["token"]
    # A therapist signs in with a second step: the code of their authenticator app (issue 18).
    login = {"email": args.therapist, "password": args.password}
    if getattr(args, "therapist_totp", ""):
        login["code"] = totp_code(args.therapist_totp)
    therapist = api.call("POST", "/api/auth/token", json=login)["token"]
    print("    two tokens received")

    step(2, "GET /api/therapists")
    directory = results(api.call("GET", "/api/therapists", token=client))
    if not directory:
        raise FlowError("The directory is empty: run `python manage.py seed_demo` (make run does).")
    chosen = next((t for t in directory if args.therapist_name.lower() in t["name"].lower()), directory[0])
    session_type = next(iter(chosen.get("session_types") or []), None)
    if session_type is None:
        raise FlowError(f"{chosen['name']} offers no session types.")
    print(f"    {len(directory)} therapists; booking {chosen['name']} (id {chosen['id']}), {session_type['name']}")

    step(3, f"GET /api/therapists/{chosen['id']}/slots")
    slots = api.call(
        "GET", f"/api/therapists/{chosen['id']}/slots", token=client, params={"session_type": session_type["id"]}
    )["slots"]
    if not slots:
        raise FlowError("No free slots in the next two weeks.")
    print(f"    {len(slots)} free start times; first {slots[0]}")

    step(4, "POST /api/sessions/request")
    session = None
    for start in slots[:5]:
        try:
            session = api.call(
                "POST",
                "/api/sessions/request",
                token=client,
                expect=(201,),
                json={"therapist": chosen["id"], "session_type": session_type["id"], "start": start, "notes": ""},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            break
        except FlowError as exc:
            if "409" not in str(exc):
                raise
            print(f"    {start} was just taken; trying the next one")
    if session is None:
        raise FlowError("Every slot tried was taken.")
    print(
        f"    session {session['id']} ({session['reference']}): {session['status_label']} / {session['payment_status_label']}"
    )

    step(5, f"PUT /api/sessions/{session['id']}/approve as the therapist")
    session = api.call("PUT", f"/api/sessions/{session['id']}/approve", token=therapist)
    print(f"    {session['status_label']}, KES {session['amount']:,} due")

    step(6, f"POST /api/mpesa/initiate with phone {args.phone}")
    attempt = api.call(
        "POST",
        "/api/mpesa/initiate",
        token=client,
        expect=(200, 201),
        json={"session": session["id"], "phone": args.phone},
    )
    checkout = attempt.get("checkout_request_id")
    print(f"    attempt {attempt['id']}: {attempt['status_label']} ({attempt['message']})")
    if not checkout:
        raise FlowError(f"M-Pesa did not take the request: {attempt['message']}")

    step(7, f"GET /api/mpesa/status/{checkout} until final")
    deadline = time.monotonic() + args.wait
    while not attempt["final"] and attempt["status"] in ("created", "processing"):
        if time.monotonic() > deadline:
            raise FlowError(f"No final answer within {args.wait:g} s.")
        time.sleep(2)
        attempt = api.call("GET", f"/api/mpesa/status/{checkout}", token=client)
        print(f"    {attempt['status_label']}: {attempt['message']}")

    final = api.call("GET", f"/api/sessions/{session['id']}", token=client)
    print(
        f"Final: session {final['reference']} is {final['status_label']} / payment {final['payment_status_label']}"
        + (f", M-Pesa receipt {attempt['mpesa_receipt_number']}" if attempt.get("mpesa_receipt_number") else "")
    )
    if (final["status"], final["payment_status"]) != ("confirmed", "paid"):
        raise FlowError(f"The session did not end Confirmed / Paid: {attempt['message']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--client", default="client1@example.com")
    parser.add_argument("--therapist", default="therapist1@example.com")
    parser.add_argument("--therapist-name", default="Amina Odhiambo", help="Whose directory entry to book.")
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument(
        "--therapist-totp", default="", help="The therapist's authenticator secret (base32): the flow sends its code."
    )
    parser.add_argument("--phone", default="0712345670", help="Last digit picks the simulated outcome (0: paid).")
    parser.add_argument("--wait", type=float, default=240, help="Seconds to wait for a final payment answer.")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except FlowError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
