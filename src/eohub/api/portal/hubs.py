"""The public hubs page ``/hubs``: this hub and the upstream hubs it mirrors (the same data as
``GET /api/hubs``), for anyone who may search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from eohub.api.odata_synchronizers import registry
from eohub.api.portal.figures import FIGURES
from eohub.api.portal.pages import render
from eohub.api.portal.search import may_search
from eohub.api.portal.session import require_user
from eohub.model.user import Role

router = APIRouter(include_in_schema=False)

STATUS_TEXT = {
    "ok": "working",
    "failing": "failing",
    "paused": "paused",
    "unknown": "not read yet",
}


@router.get("/hubs")
def hubs_page(request: Request) -> Response:
    """This hub and its sources: URL, tier, coverage, rolling window, status and lag."""
    if not may_search(request):
        require_user(request, Role.SEARCH)  # the login page, or 403 without the SEARCH role
    found: dict[str, Any] = registry(request)
    return render(request, "hubs.html", hub=found["hub"], sources=found["sources"],
                  status_text=STATUS_TEXT, **FIGURES)  # fmt: skip
