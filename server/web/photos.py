"""Evidence photos for the console: the API's service and scope check, with the
console's log-in. Looks at originals and display images are audited there."""

from flask import Response

from schemas.checkins import PhotoQuerySchema
from server.services import evidence
from server.web import bp, query_args, security


@bp.get("/photos/<int(max=2147483647):photo_id>")
@security.console_required
def photo(photo_id):
    args = query_args(PhotoQuerySchema)
    view = evidence.photo_bytes(actor=security.current_user(), photo_id=photo_id, **args)
    response = Response(view.data, mimetype=view.mime_type)
    response.headers["Content-Disposition"] = f'inline; filename="{view.filename}"'
    # Originals are never cached: every look must come here, to be recorded.
    cache = "no-store" if args["variant"] == "original" else "private, max-age=3600"
    response.headers["Cache-Control"] = cache
    return response
