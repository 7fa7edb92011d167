from flask.views import MethodView

from schemas.calendar import (
    CalendarEntryInSchema,
    CalendarEntrySchema,
    CalendarYearInSchema,
    CalendarYearSchema,
    MonthQuerySchema,
    MonthSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.services import calendar

blp = Blueprint(
    "calendar",
    __name__,
    url_prefix="/api/v1/calendar",
    description="Working days, public holidays and make-up working days",
)


@blp.route("")
class CalendarMonth(MethodView):
    @auth.required()
    @blp.arguments(MonthQuerySchema, location="query")
    @blp.response(200, MonthSchema)
    @blp.alt_response(409, description="No calendar for that year (calendar_year_missing)")
    def get(self, args):
        """A month's days: working or not, and why"""
        return calendar.month_view(**args)


@blp.route("/days/<day>")
class CalendarDayEntry(MethodView):
    @auth.required("admin")
    @blp.arguments(CalendarEntryInSchema)
    @blp.response(200, CalendarEntrySchema)
    @blp.alt_response(409, description="The month is closed somewhere (month_closed)")
    def put(self, args, day):
        """Enter or replace a day (YYYY-MM-DD): a holiday, a make-up working day, a local change"""
        return calendar.set_day(actor=auth.current_user(), day=day, **args)

    @auth.required("admin")
    @blp.response(204)
    @blp.alt_response(404, description="No entry for that day")
    @blp.alt_response(409, description="The month is closed somewhere (month_closed)")
    @blp.alt_response(422, description="Not a day YYYY-MM-DD in 2000-2099 (invalid_day)")
    def delete(self, day):
        """Remove a day's entry (YYYY-MM-DD)"""
        calendar.delete_day(actor=auth.current_user(), day=day)


@blp.route("/years")
class CalendarYears(MethodView):
    @auth.required()
    @blp.response(200, CalendarYearSchema(many=True))
    def get(self):
        """Years with a calendar, and where it comes from"""
        return calendar.list_years()

    @auth.required("admin")
    @blp.arguments(CalendarYearInSchema)
    @blp.response(201, CalendarYearSchema)
    @blp.alt_response(409, description="Already published (calendar_year_published)")
    @blp.alt_response(422, description="chinesecalendar knows the year (calendar_year_known)")
    def post(self, args):
        """Publish a year whose holidays have been entered"""
        return calendar.publish_year(actor=auth.current_user(), **args)
