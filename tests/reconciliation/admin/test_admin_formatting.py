"""Finance formatting in the admin (#14.7): money in the currency's format, entries by label,
filters a finance user needs, buttons named for what they do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reconciliation.services.matches import match_create_manual

pytestmark = pytest.mark.django_db


def test_history_names_entries_and_formats_money(client_for, world, alice):
    item, gl = world["transfer_item"], world["free_gl"]
    match = match_create_manual(
        run=world["run"], source_entry_ids=[item.pk], ledger_entry_ids=[gl.pk], actor=alice
    )
    history = reverse("admin:reconciliation_match_history", args=[match.pk])
    html = client_for("alice").get(history).content.decode()
    assert "item 2026-11-06 77.00 EUR Gamma Ltd" in html
    assert "GL GL-3 (77.00 EUR)" in html
    assert "difference: 0.00" in html
    assert str(item.pk) not in html
    assert "0.000000" not in html


def test_gl_entries_are_filtered_by_the_run_that_matched_them(client_for, world):
    url = reverse("admin:ledgers_ledgerentry_changelist")
    response = client_for("alice").get(url, {"run": str(world["run"].pk)})
    shown = {row.external_id for row in response.context["cl"].result_list}
    assert shown == {"GL-1", "GL-2"}  # accepted and suggested; GL-3 is free


def test_gl_entries_of_another_organizations_run_are_not_shown(client_for, world):
    url = reverse("admin:ledgers_ledgerentry_changelist")
    response = client_for("charlie").get(url, {"run": str(world["run"].pk)})
    assert list(response.context["cl"].result_list) == []


def test_a_read_only_page_says_back_to_the_list_not_close(client_for, world):
    url = reverse("admin:reconciliation_sourceentry_change", args=[world["free_item"].pk])
    html = client_for("bob").get(url).content.decode()
    assert "Back to the list" in html
    assert ">Close<" not in html
