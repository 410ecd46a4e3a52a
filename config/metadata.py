"""OPTIONS responses (DEFAULT_METADATA_CLASS).

Its own module: DRF imports the metadata class while `rest_framework.views` is still being
imported, so this cannot live in config/api.py, which imports from there.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class ApiMetadata(SimpleMetadata):
    """OPTIONS answers 200 on every route. DRF describes a POST by its view's serializer;
    action routes without one (auto-match, reconcile) used to fail with an assertion (500),
    so they are described by name and allowed methods only."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        if getattr(view, "serializer_class", None) is None:
            return {}
        return super().determine_actions(request, view)
