from flask import Response
from flask.views import MethodView

from schemas.checkins import PhotoQuerySchema
from server import auth
from server.api.blueprint import Blueprint
from server.services import evidence

blp = Blueprint("photos", __name__, url_prefix="/api/v1/photos", description="Evidence photos")


@blp.route("/<int(max=2147483647):photo_id>")
class PhotoById(MethodView):
    @auth.required()
    @blp.arguments(PhotoQuerySchema, location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="image/*")
    @blp.alt_response(404, description="No such photo in your scope")
    @blp.alt_response(410, description="photo_purged: deleted at the end of the retention period")
    def get(self, args, photo_id):
        """A photo: the original bytes (audited), or a display image or thumbnail"""
        view = evidence.photo_bytes(actor=auth.current_user(), photo_id=photo_id, **args)
        response = Response(view.data, mimetype=view.mime_type)
        response.headers["Content-Disposition"] = f'inline; filename="{view.filename}"'
        # Originals are never cached: every look must come here, to be recorded.
        cache = "no-store" if args["variant"] == "original" else "private, max-age=3600"
        response.headers["Cache-Control"] = cache
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
