import ipaddress
import re
from pathlib import Path

import pytest

from insideout.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    settings_fields,
    settings_from_env,
    settings_help,
)


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


class Recorder(dict):
    """An environment that remembers which variables were asked for."""

    def __init__(self, *args):
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)


def test_the_parser_reads_only_variables_of_the_table_and_every_one_of_them():
    env = Recorder({"INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET": "my-bucket"})
    settings_from_env(env)
    asked = {key for key in env.asked if key.startswith("INSIDEOUT_")}
    assert asked == {s.env for s in SETTINGS}


def test_every_settings_field_has_one_row_of_the_table_and_takes_its_default():
    rows = [s.field for s in SETTINGS if s.field]
    assert sorted(rows) == sorted(settings_fields()) and len(rows) == len(set(rows))
    defaults = Settings()
    for s in SETTINGS:
        if s.field:
            assert getattr(defaults, s.field) == s.default, s.name


def test_the_consensus_rule_and_the_policy_take_their_defaults_from_the_settings():
    from insideout.captcha import Policy
    from insideout.consensus import ConsensusRule

    settings = Settings()
    assert ConsensusRule.from_settings(settings) == ConsensusRule(10, 0.6, 30)
    assert Policy.from_settings(settings) == Policy(1, 3)
    with pytest.raises(TypeError):
        ConsensusRule()  # no second home for the defaults


def test_the_readme_settings_table_is_the_code_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start, end = readme.index("<!-- settings:start -->\n"), readme.index("<!-- settings:end -->")
    assert readme[start + len("<!-- settings:start -->\n"):end] == settings_help(markdown=True)


def test_the_readme_names_no_setting_the_code_does_not_read():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    # INSIDEOUT_S3_* stands for a family, not a name
    named = set(re.findall(r"INSIDEOUT_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)", readme))
    assert named - {s.env for s in SETTINGS} == set()


def test_settings_help_lists_every_variable_with_its_default():
    text = settings_help()
    for s in SETTINGS:
        assert s.env in text
    assert "default: 3" in text.split("INSIDEOUT_MAX_ROUNDS")[1].splitlines()[1]
