"""What a newcomer meets first: the bare address of `make run`."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_bare_address_redirects_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
