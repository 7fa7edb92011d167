from flask.views import MethodView

from schemas.reviews import ReviewAnswerSchema, ReviewCreateSchema, ReviewSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import reviews

blp = Blueprint(
    "reviews", __name__, url_prefix="/api/v1", description="Decisions on check-ins, and answers"
)


@blp.route("/checkins/<int(max=2147483647):checkin_id>/reviews")
class CheckinReviews(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ReviewCreateSchema)
    @blp.response(201, ReviewSchema)
    @blp.alt_response(403, description="Not in your jurisdiction, or your own check-in")
    @blp.alt_response(404, description="No such check-in in your scope")
    @blp.alt_response(
        409,
        description="month_closed; checkin_not_reviewable (an inspection arrival)",
    )
    def post(self, args, checkin_id):
        """Accept or reject a check-in, with a written reason; settles its flags"""
        return reviews.decide(actor=auth.current_user(), checkin_id=checkin_id, **args)


@blp.route("/reviews/<int(max=2147483647):review_id>")
class ReviewById(MethodView):
    @auth.required()
    @blp.response(200, ReviewSchema)
    @blp.alt_response(404, description="No such review in your scope")
    def get(self, review_id):
        """One decision on a check-in, with the cadre's answer"""
        return reviews.get(actor=auth.current_user(), review_id=review_id)


@blp.route("/reviews/<int(max=2147483647):review_id>/answer")
class ReviewAnswer(MethodView):
    @auth.required()
    @blp.arguments(ReviewAnswerSchema)
    @blp.response(200, ReviewSchema)
    @blp.alt_response(403, description="Only the cadre who submitted the check-in answers")
    @blp.alt_response(404, description="No such review in your scope")
    @blp.alt_response(409, description="review_already_answered")
    def post(self, args, review_id):
        """Answer a decision on your check-in (once)"""
        return reviews.answer(actor=auth.current_user(), review_id=review_id, **args)


@blp.route("/me/reviews")
class MyReviews(MethodView):
    @auth.required("cadre")
    @blp.response(200, ReviewSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self):
        """Decisions on your check-ins, newest first"""
        return reviews.mine(actor=auth.current_user())
