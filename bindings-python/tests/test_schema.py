"""The TL codec: real constructors of Telegram's api.tl (flags, vectors,
bytes, big longs) and of the local DC's test.tl, round trips, and errors
with the field path."""

from __future__ import annotations

from typing import Any

import pytest

import mtproto
from mtproto.testing import TEST_TL, echo, load_test_schema, parse_payload

@pytest.fixture(scope="module")
def api() -> mtproto.Schema:
    return mtproto.Schema.telegram()


def test_api_tl_loads_with_its_layer(api: mtproto.Schema) -> None:
    assert len(api) > 1000
    assert "messages.sendMessage" in api
    assert api.id_of("inputPeerUser") == 0xDDE8A54C
    assert "no.suchThing" not in api
    assert api.layer == mtproto.DEFAULT_LAYER and api.layer >= 228


def test_telegram_schema_get_config_and_config(api: mtproto.Schema) -> None:
    assert api.encode({"_": "help.getConfig"}) == (0xC4F9186B).to_bytes(4, "little")
    config: dict[str, Any] = {
        "_": "config",
        "default_p2p_contacts": True,
        "preload_featured_stickers": False,
        "revoke_pm_inbox": False,
        "blocked_mode": False,
        "force_try_ipv6": False,
        "date": 1_700_000_000,
        "expires": 1_700_003_600,
        "test_mode": False,
        "this_dc": 2,
        "dc_options": [
            {"_": "dcOption", "ipv6": False, "media_only": False, "tcpo_only": False, "cdn": False,
             "static": False, "this_port_only": False, "id": 2, "ip_address": "149.154.167.50",
             "port": 443, "secret": bytes(range(16))},
        ],
        "dc_txt_domain_name": "apv3.stel.com",
        **{k: 1000 + i for i, k in enumerate([
            "chat_size_max", "megagroup_size_max", "forwarded_count_max", "online_update_period_ms",
            "offline_blur_timeout_ms", "offline_idle_timeout_ms", "online_cloud_timeout_ms",
            "notify_cloud_delay_ms", "notify_default_delay_ms", "push_chat_period_ms", "push_chat_limit",
            "edit_time_limit", "revoke_time_limit", "revoke_pm_time_limit", "rating_e_decay",
            "stickers_recent_limit", "channels_read_media_period", "call_receive_timeout_ms",
            "call_ring_timeout_ms", "call_connect_timeout_ms", "call_packet_timeout_ms",
            "caption_length_max", "message_length_max", "webfile_dc_id",
        ])},
        "me_url_prefix": "https://t.me/",
        "reactions_default": {"_": "reactionEmoji", "emoticon": "\N{THUMBS UP SIGN}"},
    }
    data = api.encode(config)
    assert data[:4] == api.id_of("config").to_bytes(4, "little")  # type: ignore[union-attr]
    assert api.decode_result("help.getConfig", data) == config


def test_telegram_schema_is_shared_and_extend_copies() -> None:
    a = mtproto.Schema.telegram()
    b = mtproto.Schema.telegram()
    b.extend("test.only#12345678 = test.Only;")
    assert "test.only" in b and "test.only" not in a
    assert "test.only" not in mtproto.Schema.telegram()


def test_send_message_with_flags_round_trips(api: mtproto.Schema) -> None:
    call: dict[str, Any] = {
        "_": "messages.sendMessage",
        "no_webpage": False,
        "silent": True,
        "background": False,
        "clear_draft": False,
        "noforwards": False,
        "update_stickersets_order": False,
        "invert_media": False,
        "allow_paid_floodskip": False,
        "peer": {"_": "inputPeerUser", "user_id": 777000, "access_hash": -8029612327539335186},
        "message": "héllo ✓",
        "random_id": 2**63 - 1,
        "schedule_date": 1_700_000_000,
        "entities": [
            {"_": "messageEntityBold", "offset": 0, "length": 5},
            {"_": "messageEntityTextUrl", "offset": 6, "length": 1, "url": "https://example.invalid"},
        ],
    }
    data = api.encode(call)
    assert data[:4] == (0xFEF48F62).to_bytes(4, "little")
    flags = int.from_bytes(data[4:8], "little")
    assert flags == (1 << 5) | (1 << 3) | (1 << 10)  # silent, entities, schedule_date
    assert api.decode(data) == call


def test_absent_or_none_optional_fields_are_not_sent(api: mtproto.Schema) -> None:
    minimal = {"_": "messages.sendMessage", "peer": {"_": "inputPeerSelf"}, "message": "m", "random_id": 1}
    with_none = dict(minimal, reply_to=None, silent=None)
    assert api.encode(minimal) == api.encode(with_none)
    decoded = api.decode(api.encode(minimal))
    assert decoded["silent"] is False
    assert "reply_to" not in decoded


def test_vector_argument_and_vector_result(api: mtproto.Schema) -> None:
    call = {
        "_": "users.getUsers",
        "id": [{"_": "inputUserSelf"}, {"_": "inputUser", "user_id": 5, "access_hash": 2**62}],
    }
    assert api.decode(api.encode(call)) == call
    users = [{"_": "userEmpty", "id": 1}, {"_": "userEmpty", "id": -(2**63)}]
    result = api.encode_as(users, "Vector<User>")
    assert result[:4] == (0x1CB5C415).to_bytes(4, "little")
    assert api.decode_result("users.getUsers", result) == users
    assert api.decode_as(result, "Vector<User>") == users
    assert api.decode_as(api.encode_as([1, 2**40], "Vector<long>"), "Vector<long>") == [1, 2**40]


def test_bytes_fields_are_python_bytes_on_the_wire_raw(api: mtproto.Schema) -> None:
    blob = bytes(range(256)) * 3
    call = {"_": "upload.saveFilePart", "file_id": 9, "file_part": 0, "bytes": blob}
    data = api.encode(call)
    assert blob in data  # written as is, not base64
    decoded = api.decode(data)
    assert decoded == call and isinstance(decoded["bytes"], bytes)
    assert api.encode(dict(call, bytes=bytearray(blob))) == data
    assert api.encode(dict(call, bytes=memoryview(blob))) == data


def test_bool_results_and_values(api: mtproto.Schema) -> None:
    true = (0x997275B5).to_bytes(4, "little")
    assert api.decode_result("upload.saveFilePart", true) is True
    assert api.decode(true) is True
    assert api.encode_as(False, "Bool") == (0xBC799737).to_bytes(4, "little")


def test_layer_comment_is_read() -> None:
    assert mtproto.Schema("// LAYER 7\na#11111111 = A;").layer == 7
    assert mtproto.Schema("a#11111111 = A;").layer is None


def test_int128_and_int256_are_bytes() -> None:
    schema = mtproto.Schema("nonces#5ab0c7d1 a:int128 b:int256 = Nonces;")
    value = {"_": "nonces", "a": bytes(range(16)), "b": bytes(range(32))}
    data = schema.encode(value)
    assert data[4:20] == bytes(range(16))
    assert schema.decode(data) == value
    with pytest.raises(mtproto.InvalidInput) as info:
        schema.encode(dict(value, a=bytes(15)))
    assert info.value.path == "nonces.a"


def test_doubles_including_non_finite() -> None:
    schema = mtproto.Schema("point#1a2b3c4d x:double y:double = Point;")
    value = {"_": "point", "x": 1.5, "y": float("inf")}
    assert schema.decode(schema.encode(value)) == value
    nan = schema.decode(schema.encode({"_": "point", "x": float("nan"), "y": 0.0}))
    assert nan["x"] != nan["x"]


def test_test_tl_matches_the_test_api_builders() -> None:
    schema = load_test_schema()
    assert schema.encode({"_": "test.echo", "payload": b"abc"}) == echo(b"abc")
    payload = schema.encode({"_": "test.payload", "data": b"\x00\xff" * 200})
    assert parse_payload(payload) == b"\x00\xff" * 200
    assert schema.decode(payload) == {"_": "test.payload", "data": b"\x00\xff" * 200}
    assert mtproto.Schema.load(TEST_TL).id_of("test.sleep") == 0x16E1C9D6


def test_test_tl_against_the_live_server(session: mtproto.Session) -> None:
    schema = load_test_schema()
    result = session.invoke_sync(schema.encode({"_": "test.echo", "payload": b"live"}), timeout=10)
    assert schema.decode_result("test.echo", result) == {"_": "test.payload", "data": b"live"}
    count = session.invoke_sync(schema.encode({"_": "test.counter", "key": "schema"}), timeout=10)
    assert schema.decode_result("test.counter", count) == {"_": "test.count", "value": 1}
    big = session.invoke_sync(schema.encode({"_": "test.bigPayload", "size": 100_000}), timeout=10)
    from mtproto.testing import big_payload_data

    assert schema.decode(big)["data"] == big_payload_data(100_000)  # was gzip_packed


def test_api_and_test_schemas_combine(api: mtproto.Schema) -> None:
    both = mtproto.Schema.telegram()
    both.extend(TEST_TL)
    assert "test.echo" in both and "help.getConfig" in both


@pytest.mark.parametrize(
    "value,path",
    [
        ({"_": "no.suchMethod"}, None),
        ({"_": "inputPeerUser", "user_id": 1}, "inputPeerUser"),
        ({"_": "inputPeerUser", "user_id": 1, "access_hash": 2, "extra": 3}, "inputPeerUser"),
        ({"_": "inputPeerUser", "user_id": "1x", "access_hash": 2}, "inputPeerUser.user_id"),
        ({"_": "inputPeerUser", "user_id": 2**64, "access_hash": 2}, "inputPeerUser.user_id"),
        ({"_": "inputPeerUser", "user_id": 1.5, "access_hash": 2}, "inputPeerUser.user_id"),
        ({"_": "upload.saveFilePart", "file_id": 1, "file_part": 0, "bytes": "not bytes"}, "upload.saveFilePart.bytes"),
        ({"_": "upload.saveFilePart", "file_id": 1, "file_part": 2**31, "bytes": b""}, "upload.saveFilePart.file_part"),
        ({"_": "messages.sendMessage", "peer": {"_": "userEmpty", "id": 1}, "message": "m", "random_id": 1}, "messages.sendMessage.peer"),
        ({"_": "users.getUsers", "id": [{"_": "inputUserSelf"}, 7]}, "users.getUsers.id[1]"),
        ({"_": "users.getUsers", "id": [{"_": "inputUserSelf"}, {1: 2}]}, "users.getUsers.id[1]"),
        ({"_": "users.getUsers", "id": {"_": "inputUserSelf"}}, "users.getUsers.id"),
        ({"_": 5}, None),
        ({"_": "inputPeerSelf", "x": object()}, "inputPeerSelf.x"),
    ],
)
def test_bad_values_raise_invalid_input_with_the_path(
    api: mtproto.Schema, value: dict[Any, Any], path: str | None
) -> None:
    with pytest.raises(mtproto.InvalidInput) as info:
        api.encode(value)
    if path is not None:
        assert info.value.path == path, str(info.value)
        assert path in str(info.value)


def test_bad_bytes_raise_invalid_input(api: mtproto.Schema) -> None:
    good = api.encode({"_": "inputPeerUser", "user_id": 1, "access_hash": 2})
    for bad in [b"", good[:-1], good + b"\0\0\0\0", b"\x01\x02\x03\x04", (0x1CB5C415).to_bytes(4, "little") + bytes(4)]:
        with pytest.raises(mtproto.InvalidInput):
            api.decode(bad)
    with pytest.raises(mtproto.InvalidInput):
        api.decode_result("no.suchMethod", good)
    with pytest.raises(mtproto.InvalidInput):
        api.decode_as(good, "Vector<")


def test_wrong_argument_types_raise_type_error(api: mtproto.Schema) -> None:
    for value in [None, "help.getConfig", 5, [{"_": "help.getConfig"}]]:
        with pytest.raises(TypeError):
            api.encode(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        api.decode("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mtproto.Schema.load(42)  # type: ignore[arg-type]


def test_hostile_nesting_is_refused_not_a_crash(api: mtproto.Schema) -> None:
    cyclic: dict[str, Any] = {"_": "users.getUsers"}
    cyclic["id"] = [cyclic]
    with pytest.raises(mtproto.InvalidInput):
        api.encode(cyclic)
    deep: dict[str, Any] = {"_": "inputPeerSelf"}
    for _ in range(5000):
        deep = {"_": "users.getUsers", "id": [deep]}
    with pytest.raises(mtproto.InvalidInput):
        api.encode(deep)


def test_bad_schema_text_raises_invalid_input() -> None:
    with pytest.raises(mtproto.InvalidInput):
        mtproto.Schema("this is not; TL at all = ;")
    schema = mtproto.Schema("a#11111111 = A;")
    with pytest.raises(mtproto.InvalidInput):
        schema.extend("broken#zz = ;")
    assert len(schema) == 1
    with pytest.raises(FileNotFoundError):
        mtproto.Schema.load("no-such-file.tl")
