from flask.views import MethodView

from schemas.users import UserQuerySchema, UserSchema, UserUpdateSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import users

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="People")


@blp.route("")
class Users(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(UserQuerySchema, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List people in scope"""
        return users.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(
        403, description="out_of_jurisdiction (a jurisdiction outside yours); role_not_grantable"
    )
    @blp.alt_response(409, description="The phone number is registered already")
    def post(self, args):
        """Create a person (reviewers: cadres and inspectors in their jurisdiction)"""
        return users.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):user_id>")
class UserById(MethodView):
    @auth.required()
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="No such person in your scope")
    def get(self, user_id):
        """One person (yourself, or someone in your scope)"""
        return users.get(actor=auth.current_user(), user_id=user_id)

    @auth.required("admin", "reviewer")
    @blp.arguments(UserUpdateSchema(partial=True))
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="No such person in your scope")
    def patch(self, args, user_id):
        """Update a person: roles, jurisdiction, unit, active flag, password"""
        return users.update(actor=auth.current_user(), user_id=user_id, **args)
