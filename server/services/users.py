"""People: created by admins, or by reviewers for cadres and inspectors in their jurisdiction."""

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Posting, User, UserRole
from server.models.regions import subtree_prefix
from server.services import audit, lockouts, sessions
from server.services.lookups import optional_region, unit_by_id

# Reviewers may manage these; only admins may grant reviewer or admin.
REVIEWER_GRANTABLE = {"cadre", "inspector"}


def list_(*, actor, role=None, active=None, unit_id=None, within=None, q=None):
    stmt = auth.scoped(db.select(User), User, actor)
    if role:
        stmt = stmt.where(User.id.in_(db.select(UserRole.user_id).where(UserRole.role == role)))
    if active is not None:
        stmt = stmt.where(User.active == active)
    if unit_id is not None:
        stmt = stmt.where(User.unit_id == unit_id)
    if within:
        sub = auth.subtree_ids(subtree_prefix(within))
        stmt = stmt.where(
            User.jurisdiction_id.in_(sub)
            | User.id.in_(db.select(Posting.cadre_id).where(Posting.village_id.in_(sub)))
        )
    if q:
        stmt = stmt.where(
            User.name.contains(q, autoescape=True) | User.phone.contains(q, autoescape=True)
        )
    return stmt.order_by(User.id)


def get(*, actor, user_id):
    return auth.get_visible(User, user_id, actor)


def _check_phone_free(phone, user_id=None):
    stmt = db.select(User.id).where(User.phone == phone)
    if user_id is not None:
        stmt = stmt.where(User.id != user_id)
    if db.session.execute(stmt).first():
        raise Conflict(
            "phone_taken", "This phone number is already registered.", "该手机号已注册。"
        )


def _check_grant(actor, roles, jurisdiction):
    if actor.has_role("admin"):
        return
    if not set(roles) <= REVIEWER_GRANTABLE:
        raise Forbidden(
            "role_not_grantable",
            "Only administrators can grant the reviewer or admin role.",
            "只有管理员可以授予审核员或管理员角色。",
        )
    if jurisdiction is not None:
        auth.ensure_manages(actor, jurisdiction)


def _resolve(data):
    """Turn codes and ids in a payload into rows (only for the keys present)."""
    resolved = dict(data)
    if "jurisdiction_code" in resolved:
        resolved["jurisdiction"] = optional_region(
            resolved.pop("jurisdiction_code"), "jurisdiction_code"
        )
    if "home_region_code" in resolved:
        resolved["home_region"] = optional_region(
            resolved.pop("home_region_code"), "home_region_code"
        )
    if resolved.get("unit_id") is not None:
        unit_by_id(resolved["unit_id"])
    return resolved


def _check_password(password, phone):
    # The schema checks the rest (schemas.users.validate_password); an update may not
    # carry the phone, so this rule lives here.
    if phone in password:
        raise Invalid(errors={"password": ["Must not contain the phone number."]})


def create(*, actor, name, phone, roles, password=None, **rest):
    data = _resolve(rest)
    _check_grant(actor, roles, data.get("jurisdiction"))
    _check_phone_free(phone)
    if password:
        _check_password(password, phone)
    user = User(name=name, phone=phone, roles=roles, **data)
    if password:
        user.password_hash = auth.hash_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create", user, actor=actor, summary={"name": name, "phone": phone, "roles": roles}
    )
    db.session.commit()
    return user


def update(*, actor, user_id, **data):
    user = auth.get_visible(User, user_id, actor)
    _check_grant(actor, user.roles, None)  # reviewers cannot edit reviewers or admins
    if user.id != actor.id and not auth.manages_user(actor, user):
        raise Forbidden(
            "out_of_jurisdiction",
            "This person serves or works outside your jurisdiction.",
            "此人在您的管辖范围之外任职或工作。",
        )
    data = _resolve(data)
    _check_grant(actor, data.get("roles", user.roles), data.get("jurisdiction"))
    if "phone" in data:
        _check_phone_free(data["phone"], user.id)
    password = data.pop("password", None)
    if password:
        _check_password(password, data.get("phone", user.phone))
    plain = {k: v for k, v in data.items() if k not in ("jurisdiction", "home_region")}
    diff = audit.changes(user, plain)
    for key in ("jurisdiction", "home_region"):
        if key in data and data[key] is not getattr(user, key):
            old = getattr(user, key)
            diff[f"{key}_code"] = [old.code if old else None, data[key].code if data[key] else None]
    for key, value in data.items():
        setattr(user, key, value)
    if password:
        user.password_hash = auth.hash_password(password)
        diff["password"] = "changed"
        lockouts.clear(user.phone)
    if password or data.get("active") is False:
        # A new password or a disabled account ends every log-in made before it.
        diff["sessions_revoked"] = sessions.revoke_all(
            user, "password_changed" if password else "account_disabled"
        )
    audit.record("user.update", user, actor=actor, summary=diff)
    db.session.commit()
    return user


def set_password(*, phone, password, actor=None):
    """Recovery from the command line: no caller, so the audit event has no actor."""
    user = db.session.execute(db.select(User).where(User.phone == phone)).scalar_one_or_none()
    if user is None:
        raise LookupError(phone)
    _check_password(password, phone)
    user.password_hash = auth.hash_password(password)
    lockouts.clear(phone)
    revoked = sessions.revoke_all(user, "password_changed")
    audit.record(
        "user.set_password",
        user,
        actor=actor,
        summary={"password": "changed", "sessions_revoked": revoked},
    )
    db.session.commit()
    return user


class Profile:
    """A user together with their active postings, for GET /me."""

    def __init__(self, user, postings):
        self._user = user
        self.postings = postings
        self.active_posting = next((p for p in postings if p.is_resident), None)

    def __getattr__(self, name):
        return getattr(self._user, name)


def profile(*, actor):
    stmt = (
        db.select(Posting)
        .where(Posting.cadre_id == actor.id, Posting.status == "active")
        .order_by(Posting.start_date)
    )
    return Profile(actor, db.session.execute(stmt).scalars().all())
