def test_world_builds_and_api_answers(client, world, make):
    r = client.get("/api/v1/me", headers=make.headers(world.cadre_a))
    assert r.status_code == 200
    assert r.json["active_posting"]["village_code"] == "340421100201"
