"""The core's log records reach Python's ``logging`` (logger ``mtproto``),
follow the logger's level by themselves, and cost no GIL acquisition at a
disabled level."""

from __future__ import annotations

import logging

import pytest

import mtproto
from mtproto import _native
from mtproto.testing import LocalDc, echo, parse_payload


def _one_session(dc: LocalDc) -> None:
    with mtproto.Runtime() as rt:
        with rt.open_session(dc.address, dc.dc_id, dc.public_key) as s:
            assert parse_payload(s.invoke_sync(echo(b"log me not"), timeout=20)) == b"log me not"
    mtproto.flush_log(5)


def test_core_records_reach_the_mtproto_logger(caplog: pytest.LogCaptureFixture) -> None:
    with LocalDc() as dc:
        caplog.set_level(mtproto.TRACE, logger="mtproto")
        _one_session(dc)
    ours = [r for r in caplog.records if r.name == "mtproto"]
    assert any(r.levelno == logging.DEBUG and "state" in r.getMessage() for r in ours), ours
    queued = [r for r in ours if r.getMessage().startswith("request queued")]
    assert queued and queued[0].levelno == mtproto.TRACE and queued[0].levelname == "TRACE"
    assert getattr(queued[0], "target") == "mtproto::net"
    assert not any("log me not" in r.getMessage() for r in ours)


def test_a_disabled_level_takes_no_gil(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mtproto")
    mtproto.flush_log(5)
    before = _native.log_batches_delivered()
    with LocalDc() as dc:
        _one_session(dc)  # debug and trace records only: all filtered natively
    assert _native.log_batches_delivered() == before
    assert not [r for r in caplog.records if r.name == "mtproto" and r.levelno < logging.WARNING]


def test_the_filter_follows_setlevel_and_disable() -> None:
    logger = logging.getLogger("mtproto")
    old = logger.level
    try:
        logger.setLevel(logging.INFO)
        with LocalDc() as dc:
            before = _native.log_batches_delivered()
            logger.setLevel(logging.DEBUG)  # no sync call: the hook follows it
            _one_session(dc)
            assert _native.log_batches_delivered() > before
            logging.disable(logging.CRITICAL)
            try:
                mtproto.flush_log(5)
                before = _native.log_batches_delivered()
                _one_session(dc)
                assert _native.log_batches_delivered() == before
            finally:
                logging.disable(logging.NOTSET)
    finally:
        logger.setLevel(old)
