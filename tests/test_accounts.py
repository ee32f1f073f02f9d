"""The login mock: accounts in the data dir, scrypt hashes, roles, and the bot verdict's cooldown."""

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


def test_a_bot_verdict_holds_the_account_name_and_the_session(settings):
    accounts, _ = open_accounts(settings, cooldown_s=60)
    accounts.mark_bot("bob", "session-1", now=1000)
    assert accounts.cooldown_left("bob", "session-2", now=1010) == pytest.approx(50)
    assert accounts.cooldown_left("carol", "session-1", now=1010) == pytest.approx(50)
    assert accounts.cooldown_left("carol", "session-2", now=1010) == 0


def test_the_cooldown_ends(settings):
    accounts, _ = open_accounts(settings, cooldown_s=60)
    accounts.mark_bot("bob", "session-1", now=1000)
    assert accounts.cooldown_left("bob", "session-1", now=1060.5) == 0


def test_a_verdict_without_a_claimed_name_still_holds_the_session(settings):
    accounts, _ = open_accounts(settings, cooldown_s=30)
    accounts.mark_bot(None, "session-1", now=0)
    assert accounts.cooldown_left(None, "session-1", now=10) == pytest.approx(20)


def test_a_damaged_account_file_is_reported_not_overwritten(settings):
    settings.data_dir.mkdir(parents=True)
    path = settings.data_dir / "accounts.json"
    path.write_text(json.dumps({"accounts": {"alice": {"role": "king"}}}))
    with pytest.raises(RuntimeError, match="damaged"):
        open_accounts(settings)
    assert "king" in path.read_text()
