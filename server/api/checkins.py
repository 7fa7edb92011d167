from flask.views import MethodView

from schemas.checkins import (
    BatchFilesSchema,
    BatchFormSchema,
    BatchResultSchema,
    CheckinFieldsSchema,
    CheckinQuerySchema,
    CheckinSchema,
    PhotoFilesSchema,
)
from server import auth, ratelimits
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.http import upload_bytes
from server.services import checkin_batches, checkins

blp = Blueprint(
    "checkins", __name__, url_prefix="/api/v1/checkins", description="Cadres' check-ins"
)


def read_photos(files):
    return [upload_bytes(f) for f in files.get("photos", [])]


@blp.route("")
class Checkins(MethodView):
    uploads_in_memory = True  # server.http.UploadRequest

    @auth.required("cadre")
    @ratelimits.uploads
    @blp.arguments(CheckinFieldsSchema, location="form")
    @blp.arguments(PhotoFilesSchema, location="files")
    @blp.response(201, CheckinSchema, description="Recorded (200: an identical resend)")
    @blp.alt_response(200, schema=CheckinSchema, description="The original, for a resend")
    @blp.alt_response(409, description="client_id reused for different content; no posting")
    @blp.alt_response(413, description="A photo or the request is too large")
    @blp.alt_response(415, description="A photo is not JPEG, PNG, WebP or HEIC")
    def post(self, fields, files):
        """Submit a check-in: position, device time and 0-3 photos (multipart)"""
        outcome = checkins.submit(
            actor=auth.current_user(), photo_files=read_photos(files), **fields
        )
        return outcome.checkin, (201 if outcome.created else 200)

    @auth.required()
    @blp.arguments(CheckinQuerySchema, location="query")
    @blp.response(200, CheckinSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Check-ins in scope, newest first (a cadre sees their own)"""
        return checkins.list_(actor=auth.current_user(), **args)


@blp.route("/batch")
class CheckinBatch(MethodView):
    uploads_in_memory = True  # server.http.UploadRequest

    @auth.required("cadre")
    @ratelimits.uploads
    @blp.arguments(BatchFormSchema, location="form")
    @blp.arguments(BatchFilesSchema, location="files")
    @blp.response(200, BatchResultSchema)
    def post(self, form, files):
        """Sync up to 50 queued check-ins; answered item by item"""
        return checkin_batches.submit(
            actor=auth.current_user(), items=form["items"], photo_files=read_photos(files)
        )


@blp.route("/<int(max=2147483647):checkin_id>")
class CheckinById(MethodView):
    @auth.required()
    @blp.response(200, CheckinSchema)
    @blp.alt_response(404, description="No such check-in in your scope")
    def get(self, checkin_id):
        """One check-in with its verdict, flags and photos"""
        return checkins.get(actor=auth.current_user(), checkin_id=checkin_id)
