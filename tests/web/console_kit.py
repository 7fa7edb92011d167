"""Helpers for console tests: the CSRF token of a page, and a log-in through the form."""

import re

from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response):
    found = CSRF.search(response.get_data(as_text=True))
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def log_in(client, user, password=PASSWORD, **extra):
    token = csrf_of(client.get("/console/login"))
    form = {"phone": user.phone, "password": password, "csrf_token": token, **extra}
    return client.post("/console/login", data=form)


def token(client, path="/console/"):
    """A live form token for the logged-in client (any console page carries one)."""
    return csrf_of(client.get(path))
