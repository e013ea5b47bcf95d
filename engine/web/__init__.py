"""The live market page at ``/``: plain HTML, CSS and JavaScript, no build step.

``engine/web/assets/`` is served as is under ``/assets/`` (the charting library is vendored
there, see its NOTICE.md); the page talks only to the public API under ``/api/v1``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory

ASSETS = Path(__file__).resolve().parent / "assets"

bp = Blueprint("web", __name__, static_folder=str(ASSETS), static_url_path="/assets")


@bp.get("/")
def index() -> Response:
    response = send_from_directory(ASSETS, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Serve the page at / and its files under /assets/."""
    app.register_blueprint(bp)
