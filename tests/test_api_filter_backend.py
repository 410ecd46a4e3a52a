"""config.api.FilterBackend: a list's FilterSet is built only for a request that may filter.

Building and validating the form costs about 1 ms per request; a request with only paging
and ordering parameters gets the queryset back untouched, every other one (a filter, an
unknown parameter) goes through django-filter as before. The filters' own answers (400
`blank`, bad values) are tested in test_hostile_input.py.
"""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.api import FilterBackend
from reconciliation.api.views import RunItemListViewSet
from reconciliation.models import SourceEntry


@pytest.mark.parametrize(
    ("params", "filtered"),
    [
        ({}, False),
        ({"cursor": "", "limit": "5", "offset": "0", "ordering": "-amount"}, False),
        ({"match_status": "unmatched"}, True),
        ({"match_status": "unmatched", "limit": "5"}, True),
        ({"not_a_filter": "1"}, True),
    ],
)
def test_the_filterset_runs_only_when_the_request_names_more_than_paging(
    params: dict[str, str], filtered: bool
) -> None:
    queryset = SourceEntry.objects.all()
    request = Request(APIRequestFactory().get("/", params))
    out = FilterBackend().filter_queryset(request, queryset, RunItemListViewSet())
    assert (out is not queryset) == filtered
    if params.get("match_status"):
        assert "match_status" in str(out.query)
