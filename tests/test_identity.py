import ipaddress

from insideout.identity import client_address

PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


def test_without_proxies_the_peer_is_the_client():
    assert client_address("203.0.113.9", "1.2.3.4", ()) == "203.0.113.9"


def test_an_untrusted_peer_cannot_claim_another_address():
    assert client_address("203.0.113.9", "1.2.3.4", PROXY) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client():
    assert client_address("10.0.0.5", "198.51.100.7", PROXY) == "198.51.100.7"


def test_entries_a_client_forged_before_the_proxy_are_ignored():
    assert client_address("10.0.0.5", "1.1.1.1, 198.51.100.7", PROXY) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked():
    assert client_address("10.0.0.5", "198.51.100.7, 10.1.1.1", PROXY) == "198.51.100.7"


def test_garbage_in_the_header_falls_back_to_the_peer():
    assert client_address("10.0.0.5", "<script>", PROXY) == "10.0.0.5"
