"""mtproto.testing: the local data center and the test API helpers."""

from __future__ import annotations

import pytest

import mtproto
from mtproto import testing
from mtproto.testing import LocalDc


def test_local_dc_exposes_what_a_session_needs() -> None:
    with LocalDc(dc_id=4) as dc:
        assert dc.address.startswith("127.0.0.1:")
        assert dc.public_key.startswith("-----BEGIN RSA PUBLIC KEY-----")
        assert dc.dc_id == 4
        assert dc.running
        with mtproto.Session(dc.address, 4, dc.public_key) as s:
            assert testing.parse_payload(s.invoke_sync(testing.echo(b"4"), timeout=10)) == b"4"
            assert testing.parse_count(s.invoke_sync(testing.counter("k"), timeout=10)) == 1
            assert dc.counter("k") == 1
            assert dc.counter("never") == 0
            assert dc.connection_count == 1
    assert not dc.running
    with pytest.raises(mtproto.Closed):
        dc.counter("k")
    dc.close()  # idempotent


def test_a_session_naming_another_dc_is_refused() -> None:
    with LocalDc(dc_id=2) as dc, mtproto.Session(dc.address, 3, dc.public_key, connect_timeout=2) as s:
        with pytest.raises((mtproto.AuthError, mtproto.TransportError, mtproto.TimeoutError)):
            s.invoke_sync(testing.echo(b"x"), timeout=3)


def test_request_builders_are_tl_and_parsers_check_their_input() -> None:
    assert testing.echo(b"hi") == (0x8F5C7B19).to_bytes(4, "little") + b"\x02hi\x00"
    assert testing.sleep(5)[:4] == (0x16E1C9D6).to_bytes(4, "little")
    assert testing.parse_bool((0x997275B5).to_bytes(4, "little")) is True
    assert testing.update_data(255, 3) == b"\xff\x00\x01"
    for parse in (testing.parse_payload, testing.parse_update, testing.parse_count, testing.parse_bool):
        with pytest.raises(mtproto.InvalidInput):
            parse(b"\x00\x00\x00\x00")
    with pytest.raises(mtproto.InvalidInput):
        LocalDc(dc_id=0)


def test_errors_form_one_hierarchy() -> None:
    for cls in (
        mtproto.RpcError,
        mtproto.TransportError,
        mtproto.TimeoutError,
        mtproto.Cancelled,
        mtproto.Closed,
        mtproto.InvalidInput,
        mtproto.AuthError,
        mtproto.StorageError,
    ):
        assert issubclass(cls, mtproto.Error)
    assert issubclass(mtproto.TimeoutError, TimeoutError)
    assert issubclass(mtproto.InvalidInput, ValueError)
    e = mtproto.RpcError(303, "NETWORK_MIGRATE_4")
    assert (e.code, e.message) == (303, "NETWORK_MIGRATE_4")
