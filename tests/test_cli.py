"""Bootstrapping and recovery from the command line."""

from server.extensions import db
from server.models import User


def test_create_the_first_admin_and_log_in(app, client):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "--phone",
            "13700000001",
            "--name",
            "管理员",
            "--role",
            "admin",
            "--password",
            "First-admin-1",
        ]
    )
    assert result.exit_code == 0, result.output
    login = client.post(
        "/api/v1/auth/login",
        json={"phone": "13700000001", "password": "First-admin-1", "device_id": "laptop"},
    )
    assert login.status_code == 200


def test_create_with_region_and_several_roles(app, world):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "--phone",
            "13700000002",
            "--name",
            "督查员",
            "--role",
            "inspector",
            "--role",
            "reviewer",
            "--password",
            "Inspect-2026",
            "--region",
            "340421000000",
            "--unit",
            str(world.unit_a.id),
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.execute(db.select(User).where(User.phone == "13700000002")).scalar_one()
    assert user.roles == ["inspector", "reviewer"]
    assert user.jurisdiction_id == world.county_a.id


def test_create_refuses_bad_input(app, world):
    runner = app.test_cli_runner()
    weak = runner.invoke(
        args=[
            "users",
            "create",
            "--phone",
            "13700000003",
            "--name",
            "x",
            "--role",
            "admin",
            "--password",
            "123",
        ]
    )
    assert weak.exit_code == 1 and "password" in weak.output
    taken = runner.invoke(
        args=[
            "users",
            "create",
            "--phone",
            world.cadre_a.phone,
            "--name",
            "x",
            "--role",
            "admin",
            "--password",
            "Good-pass-1",
        ]
    )
    assert taken.exit_code == 1 and "phone_taken" in taken.output


def test_set_password_recovers_a_log_in(app, client, world):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "set-password", "--phone", world.cadre_a.phone, "--password", "Recovered-9"]
    )
    assert result.exit_code == 0, result.output
    login = client.post(
        "/api/v1/auth/login",
        json={"phone": world.cadre_a.phone, "password": "Recovered-9", "device_id": "p"},
    )
    assert login.status_code == 200
    missing = runner.invoke(
        args=["users", "set-password", "--phone", "13800000000", "--password", "Recovered-9"]
    )
    assert missing.exit_code == 1 and "no user" in missing.output


def test_the_password_can_be_typed_at_a_hidden_prompt(app, world):
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "--phone", world.cadre_a.phone],
        input="Typed-in-2026\nTyped-in-2026\n",
    )
    assert result.exit_code == 0, result.output
    assert "Typed-in-2026" not in result.output
