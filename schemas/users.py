import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id, ListQuery, Phone, name_field
from server.models.users import ROLES

MIN_PASSWORD_LENGTH = 10
# What guessing lists try first, compared without case or punctuation ("Password-123" is
# "password123"); the length and letters-and-digits rules already stop the shorter ones.
COMMON_PASSWORDS = frozenset(
    """
    password123 password1234 password12345 passw0rd123 p4ssw0rd123 abc1234567 abcd123456
    abcde12345 abc123456789 a123456789 a1234567890 aa123456789 qwerty1234 qwerty12345
    qwerty123456 1qaz2wsx3edc 1q2w3e4r5t 1q2w3e4r5t6y qwer123456 asdf123456 zxcv123456
    admin12345 admin123456 administrator1 iloveyou123 woaini1314 woaini1314520
    5201314abc abc5201314 welcome123 letmein123 test123456 changeme123 huawei123456
    """.split()
)


def validate_password(value):
    """The rules for a new password. Not the phone number: services/users.py checks that,
    since an update may not carry the phone."""
    problems = []
    if len(value) < MIN_PASSWORD_LENGTH:
        problems.append(f"At least {MIN_PASSWORD_LENGTH} characters.")
    if value.isdigit() or value.isalpha():
        problems.append("Use letters and digits, not only one kind.")
    if "".join(c for c in value.lower() if c.isalnum()) in COMMON_PASSWORDS:
        problems.append("Too common: choose a password that is not on guessing lists.")
    if problems:
        raise ma.ValidationError(problems)


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = name_field(required=True)
    phone = Phone(required=True)
    password = ma.fields.String(
        load_only=True,
        validate=[validate.Length(max=128), validate_password],
        metadata={"description": "Optional: without one the user cannot log in yet."},
    )
    roles = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1),
    )
    active = ma.fields.Boolean(load_default=True)
    jurisdiction_code = DivisionCode(
        allow_none=True, metadata={"description": "Reviewers and inspectors: their subtree"}
    )
    unit_id = Id(allow_none=True, metadata={"description": "Home unit"})
    home_region_code = DivisionCode(
        allow_none=True, metadata={"description": "Home township or county, for recusal"}
    )
    has_password = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class UserUpdateSchema(UserSchema):
    active = ma.fields.Boolean()


class UserQuerySchema(ListQuery):
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    active = ma.fields.Boolean()
    unit_id = Id()
    within = DivisionCode(metadata={"description": "Jurisdiction in this subtree"})
