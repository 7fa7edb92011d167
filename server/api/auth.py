from flask import current_app, g
from flask.views import MethodView

from schemas.auth import LoginSchema, MeSchema, RefreshSchema, TokenSchema
from schemas.draws import ChallengeSchema
from server import auth, ratelimits
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import rollcalls, sessions, users

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Log-in and the caller")


@blp.route("/auth/login")
class Login(MethodView):
    @ratelimits.login
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, description="Wrong phone number or password, or a locked number")
    def post(self, args):
        """Log in with phone and password; returns an access and a refresh token"""
        return sessions.login(**args, config=current_app.config)


@blp.route("/auth/refresh")
class Refresh(MethodView):
    @ratelimits.refresh
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, description="Invalid, expired, revoked or reused refresh token")
    def post(self, args):
        """Exchange a refresh token for new tokens (each refresh token works once)"""
        return sessions.refresh(**args, config=current_app.config)


@blp.route("/auth/logout")
class Logout(MethodView):
    @auth.required()
    @blp.response(204)
    def post(self):
        """End this log-in: its refresh and access tokens stop working"""
        sessions.logout(actor=auth.current_user(), session_id=g.session_id)


@blp.route("/me")
class Me(MethodView):
    @auth.required()
    @blp.response(200, MeSchema)
    def get(self):
        """The caller: roles, jurisdiction and active postings"""
        return users.profile(actor=auth.current_user())


@blp.route("/me/challenges")
class MyChallenges(MethodView):
    @auth.required("cadre")
    @blp.response(200, ChallengeSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self):
        """Roll-calls issued to you (poll this); answer with a check-in naming challenge_id"""
        return rollcalls.mine(actor=auth.current_user())
