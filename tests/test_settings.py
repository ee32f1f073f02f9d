import ipaddress

import pytest

from insideout.settings import SettingsError, load_settings, settings_from_env


def test_defaults_follow_the_design():
    s = settings_from_env({})
    assert (str(s.data_dir), s.host, s.port, s.starter_library, s.rate_limit_per_min) == (
        "data", "127.0.0.1", 7860, True, 20)
    assert (s.rounds_to_pass, s.max_rounds, s.challenge_ttl_s, s.token_ttl_s) == (1, 3, 300, 120)
    assert (s.consensus_min_votes, s.consensus_min_share, s.ambiguous_after_votes) == (10, 0.6, 30)
    assert s.admin_token is None and s.trusted_proxies == ()


def test_spaces_serve_on_all_interfaces():
    assert settings_from_env({"SPACE_ID": "me/app"}).host == "0.0.0.0"


def test_trusted_proxies_take_addresses_and_networks():
    s = settings_from_env({"INSIDEOUT_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert s.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


@pytest.mark.parametrize(
    "env,words",
    [
        ({"INSIDEOUT_PORT": "http"}, "INSIDEOUT_PORT"),
        ({"INSIDEOUT_PORT": "70000"}, "1 to 65535"),
        ({"INSIDEOUT_STARTER_LIBRARY": "maybe"}, "1 or 0"),
        ({"INSIDEOUT_TRUSTED_PROXIES": "proxy.example"}, "not an IP"),
        ({"INSIDEOUT_STORAGE": "floppy"}, "local"),
        ({"INSIDEOUT_RATE_LIMIT_PER_MIN": "0"}, "INSIDEOUT_RATE_LIMIT_PER_MIN"),
        ({"INSIDEOUT_ADMIN_TOKEN": "short"}, "too short"),
        ({"INSIDEOUT_ROUNDS_TO_PASS": "4"}, "exceeds"),
        ({"INSIDEOUT_CONSENSUS_MIN_SHARE": "2"}, "INSIDEOUT_CONSENSUS_MIN_SHARE"),
    ],
)
def test_bad_values_get_a_clear_message(env, words):
    with pytest.raises(SettingsError, match=words):
        settings_from_env(env)


def test_the_secret_key_is_generated_once_and_kept(tmp_path):
    env = {"INSIDEOUT_DATA_DIR": str(tmp_path)}
    first = load_settings(env).secret_key
    assert len(first) >= 32
    assert load_settings(env).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_given_secret_key_wins(tmp_path):
    env = {"INSIDEOUT_DATA_DIR": str(tmp_path), "INSIDEOUT_SECRET_KEY": "s" * 40}
    assert load_settings(env).secret_key == "s" * 40
