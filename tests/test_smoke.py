from tests.fixtures.factories import login


def test_login_page_is_chinese(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "登录" in response.get_data(as_text=True)


def test_world_builds_and_admin_sees_home(client, world):
    login(client, world.users["bureau_admin"])
    response = client.get("/")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert "甲区教育局" in response.get_data(as_text=True)
