"""The login mock: accounts in the data dir, scrypt hashes, roles, and the signed session tokens that keep a
visitor signed in across reloads."""

import json
import stat

import pytest

from insideout.accounts import (
    ADMIN,
    DEMO_PASSWORD,
    DEMO_USERS,
    Accounts,
    NotAllowed,
    Session,
    hash_password,
    normalize_username,
    read_session,
    sign_session,
    verify_password,
)

ADMIN_PASSWORD = "correct-horse-battery"


def open_accounts(settings, admin_password=None, **kwargs):
    printed = []
    accounts = Accounts(settings.data_dir, admin_password, announce=printed.append, **kwargs)
    accounts.load()  # as a server does at start
    return accounts, printed


def test_a_command_that_signs_nobody_in_creates_no_account_file(settings):
    from insideout.services import build_services

    printed = []
    services = build_services(settings, announce=printed.append)
    assert not services.accounts.path.exists() and printed == []
    services.accounts.load()
    assert services.accounts.path.exists() and len(printed) == 1


def test_a_password_hash_is_salted_and_checks_only_the_right_password():
    first, second = hash_password("secret-one"), hash_password("secret-one")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("secret-one", first) and verify_password("secret-one", second)
    assert not verify_password("secret-two", first)


def test_a_damaged_hash_never_verifies():
    assert not verify_password("x", "scrypt$nonsense")
    assert not verify_password("x", "md5$1$2$3$00$00")
    assert not verify_password("x", "")


def test_first_start_creates_the_demo_accounts_and_an_admin(settings):
    accounts, _ = open_accounts(settings)
    assert accounts.usernames() == sorted([*DEMO_USERS, ADMIN])
    assert accounts.role(ADMIN) == "admin"
    assert {accounts.role(u) for u in DEMO_USERS} == {"volunteer"}


def test_the_account_file_holds_hashes_only_and_is_private(settings):
    accounts, printed = open_accounts(settings)
    generated = printed[0].split("admin password is ")[1].split()[0]
    text = accounts.path.read_text()
    assert DEMO_PASSWORD not in text and generated not in text
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600
    assert accounts.path.parent == settings.data_dir


def test_a_generated_admin_password_is_printed_once_and_works(settings):
    first, printed = open_accounts(settings)
    assert len(printed) == 1
    password = printed[0].split("admin password is ")[1].split()[0]
    assert first.authenticate("admin", password) == Session("admin", "admin")
    again, printed_again = open_accounts(settings)
    assert printed_again == []
    assert again.authenticate("admin", password) is not None


def test_the_admin_password_setting_is_used_and_not_printed(settings):
    accounts, printed = open_accounts(settings, ADMIN_PASSWORD)
    assert printed == []
    assert accounts.authenticate("admin", ADMIN_PASSWORD).is_admin


def test_a_changed_admin_password_setting_replaces_the_old_one(settings):
    open_accounts(settings, ADMIN_PASSWORD)
    accounts, _ = open_accounts(settings, "a-new-password-42")
    assert accounts.authenticate("admin", "a-new-password-42") is not None
    assert accounts.authenticate("admin", ADMIN_PASSWORD) is None


def test_demo_users_sign_in_with_the_demo_password(settings):
    accounts, _ = open_accounts(settings)
    assert accounts.authenticate("alice", DEMO_PASSWORD) == Session("alice", "volunteer")
    assert accounts.authenticate("  Alice ", DEMO_PASSWORD) == Session("alice", "volunteer")


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong"), ("nobody", DEMO_PASSWORD), ("alice", ""), ("", ""), (None, None),
    ("alice", 42), ("../etc", DEMO_PASSWORD), ("alice", "x" * 10_000),
])
def test_wrong_or_malformed_credentials_are_refused(settings, username, password):
    accounts, _ = open_accounts(settings)
    assert accounts.authenticate(username, password) is None


def test_account_names_are_normalized_or_refused():
    assert normalize_username(" Bob ") == "bob"
    assert normalize_username("a b") is None and normalize_username("é") is None
    assert normalize_username(7) is None


def test_only_an_admin_passes_require_admin(settings):
    accounts, _ = open_accounts(settings, ADMIN_PASSWORD)
    admin = accounts.authenticate("admin", ADMIN_PASSWORD)
    assert accounts.require_admin(admin) == admin
    for session in (accounts.authenticate("alice", DEMO_PASSWORD), None, "admin"):
        with pytest.raises(NotAllowed):
            accounts.require_admin(session)


def test_a_session_claiming_admin_for_a_volunteer_account_is_refused(settings):
    accounts, _ = open_accounts(settings)
    with pytest.raises(NotAllowed):
        accounts.require_admin(Session("alice", "admin"))
    with pytest.raises(NotAllowed):
        accounts.require_user(Session("mallory", "volunteer"))


KEY = "a-secret-key-of-at-least-32-characters"


def test_nothing_is_keyed_on_an_account_name_any_more():
    """The bot verdict is the captcha engine's, per client: no name can be locked by anybody."""
    assert not hasattr(Accounts, "mark_bot") and not hasattr(Accounts, "cooldown_left")


def test_a_session_token_names_its_account_until_it_expires():
    token = sign_session("alice", KEY, now=1000, ttl_s=60)
    claim = read_session(token, KEY, now=1059)
    assert claim.username == "alice" and claim.expires_at == 1060
    assert read_session(token, KEY, now=1060) is None  # expired
    assert sign_session("alice", KEY, now=1000) != sign_session("alice", KEY, now=1000)  # a nonce each


def test_a_tampered_session_token_is_refused():
    token = sign_session("alice", KEY, now=1000, ttl_s=60)
    version, name, expires, nonce, mac = token.split(".")
    for forged in (
        ".".join([version, "admin", expires, nonce, mac]),  # another account
        ".".join([version, name, str(int(expires) + 3600), nonce, mac]),  # a longer life
        ".".join([version, name, expires, nonce + "x", mac]),
        ".".join([version, name, expires, nonce, mac[:-1] + ("A" if mac[-1] != "A" else "B")]),
        ".".join(["s2", name, expires, nonce, mac]),
        token + ".x", token[:-3], "", "s1....", None, 42, "x" * 10_000,
    ):
        assert read_session(forged, KEY, now=1001) is None, forged


def test_a_session_token_signed_with_another_key_is_refused():
    token = sign_session("alice", KEY, now=1000, ttl_s=60)
    assert read_session(token, "another-key-of-at-least-32-characters", now=1001) is None
    assert read_session(token, "", now=1001) is None
    with pytest.raises(ValueError):
        sign_session("alice", "", now=1000)


def test_a_session_token_is_not_a_pass_token_and_a_pass_token_is_not_a_session():
    """Sessions are signed with a key derived from the secret key: neither token passes for the other."""
    import base64
    import hashlib
    import hmac as hmac_

    body = base64.urlsafe_b64encode(b'{"jti":"x","cid":"y","exp":9999999999}').rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(hmac_.new(KEY.encode(), body.encode(), hashlib.sha256).digest())
    assert read_session(f"v1.{body}.{signature.rstrip(b'=').decode()}", KEY) is None
    payload = "s1.alice.9999999999.nonce"
    raw = base64.urlsafe_b64encode(hmac_.new(KEY.encode(), payload.encode(), hashlib.sha256).digest())
    assert read_session(f"{payload}.{raw.rstrip(b'=').decode()}", KEY) is None


def test_only_account_names_are_signed():
    for name in ("Alice", "a b", "../x", "", None):
        with pytest.raises(ValueError):
            sign_session(name, KEY)


def test_a_kept_session_restores_the_account_with_its_role_of_now(settings):
    accounts, _ = open_accounts(settings, ADMIN_PASSWORD, secret_key=KEY)
    token = accounts.session_token(Session("admin", "admin"), now=1000)
    assert accounts.restore(token, now=1001) == Session("admin", "admin")
    forged_role = accounts.session_token(Session("alice", "admin"), now=1000)  # the token carries no role
    assert accounts.restore(forged_role, now=1001) == Session("alice", "volunteer")
    assert accounts.restore(token, now=1000 + accounts.session_ttl_s) is None  # expired


def test_a_session_of_an_unknown_account_is_refused(settings):
    accounts, _ = open_accounts(settings, secret_key=KEY)
    assert accounts.restore(sign_session("mallory", KEY, now=1000), now=1001) is None


def test_a_logout_ends_the_kept_session_and_no_other(settings):
    accounts, _ = open_accounts(settings, secret_key=KEY)
    first = accounts.session_token(Session("alice", "volunteer"), now=1000)
    second = accounts.session_token(Session("alice", "volunteer"), now=1000)
    accounts.end_session(first, now=1001)
    assert accounts.restore(first, now=1002) is None
    assert accounts.restore(second, now=1002) == Session("alice", "volunteer")
    accounts.end_session("not a token", now=1003)  # nothing to end: no error


def test_without_a_secret_key_no_session_is_kept(settings):
    accounts, _ = open_accounts(settings)
    assert accounts.session_token(Session("alice", "volunteer")) is None
    assert accounts.restore(sign_session("alice", KEY)) is None


def test_the_services_sign_sessions_with_the_settings_key(settings):
    from insideout.services import build_services

    services = build_services(settings, announce=lambda _: None)
    token = services.accounts.session_token(Session("bob", "volunteer"))
    assert read_session(token, settings.secret_key).username == "bob"


def test_a_damaged_account_file_is_reported_not_overwritten(settings):
    settings.data_dir.mkdir(parents=True)
    path = settings.data_dir / "accounts.json"
    path.write_text(json.dumps({"accounts": {"alice": {"role": "king"}}}))
    with pytest.raises(RuntimeError, match="damaged"):
        open_accounts(settings)
    assert "king" in path.read_text()
