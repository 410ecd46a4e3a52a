"""The run list and the discrepancy list as a reviewer starts the day with them (#14)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reconciliation.models import Run
from reconciliation.services.runs import run_close, run_create

pytestmark = pytest.mark.django_db


def test_runs_that_need_attention_come_first(client_for, world, alice, alice_ledger):
    quiet = run_create(ledger=alice_ledger, actor=alice, note="quiet")
    Run.objects.filter(pk=quiet.pk).update(status="completed")
    failed = run_create(ledger=alice_ledger, actor=alice, note="broken")
    Run.objects.filter(pk=failed.pk).update(status="failed")
    closed = run_create(ledger=alice_ledger, actor=alice, note="done")
    run_close(run=closed, actor=alice, reason="no statement")
    response = client_for("rita").get(reverse("admin:reconciliation_run_changelist"))
    order = [run.note for run in response.context["cl"].result_list]
    # failed, then the run with a suggestion to decide, then nothing to do (newest first)
    assert order == ["broken", "world", "done", "quiet"]


def test_sorting_by_a_column_replaces_the_attention_order(client_for, world, alice, alice_ledger):
    run_create(ledger=alice_ledger, actor=alice, note="later")
    url = reverse("admin:reconciliation_run_changelist") + "?o=-6"  # created_at, newest first
    order = [run.note for run in client_for("rita").get(url).context["cl"].result_list]
    assert order == ["later", "world"]


def test_the_run_list_shows_what_to_review_and_the_open_discrepancies(client_for, world):
    html = client_for("rita").get(reverse("admin:reconciliation_run_changelist")).content.decode()
    assert "1 suggestion" in html
    assert "status=unresolved" in html


def test_the_needs_attention_filter(client_for, world, alice, alice_ledger):
    quiet = run_create(ledger=alice_ledger, actor=alice, note="quiet")
    run_close(run=quiet, actor=alice, reason="no statement")
    url = reverse("admin:reconciliation_run_changelist")
    client = client_for("rita")
    assert [r.note for r in client.get(url + "?attention=yes").context["cl"].result_list] == [
        "world"
    ]
    assert [r.note for r in client.get(url + "?attention=no").context["cl"].result_list] == [
        "quiet"
    ]


def test_the_discrepancy_status_filter_shows_open_or_in_review_as_one_choice(client_for, world):
    from reconciliation.services.discrepancies import discrepancy_update

    run = world["run"]
    discrepancies = list(run.discrepancies.order_by("created_at"))
    assert len(discrepancies) >= 2
    discrepancy_update(discrepancy=discrepancies[0], status="in_review", note=None, actor=None)
    discrepancy_update(discrepancy=discrepancies[1], status="closed", note=None, actor=None)
    url = reverse("admin:reconciliation_discrepancy_changelist") + "?status=unresolved"
    response = client_for("rita").get(url)
    statuses = {d.status for d in response.context["cl"].result_list}
    assert statuses <= {"open", "in_review"}
    assert "in_review" in statuses
    html = " ".join(response.content.decode().split())
    assert '<li class="selected"> <a href="?status=unresolved">Open or in review</a>' in html
