import logging

import pytest

from engine.errors import ConfigError
from installation.server.auth import REDACTED, Access, OperatorAuth, RedactingLogger, presented_token

TOKEN = "s3cret-operator-token-for-tests"


@pytest.mark.parametrize(
    "authorization, target, expected",
    [
        ([f"Bearer {TOKEN}"], "/operator", Access.OK),
        ([f"bearer   {TOKEN} "], "/operator", Access.OK),
        ([], f"/operator?token={TOKEN}", Access.OK),
        ([], f"/operator/ws?x=1&token={TOKEN}", Access.OK),
        ([], "/operator", Access.MISSING),
        ([], "/operator?token=", Access.MISSING),
        (["Basic dXNlcjpwYXNz"], f"/operator?token={TOKEN}", Access.MISSING),  # the header wins
        (["Bearer"], "/operator", Access.MISSING),
        ([f"Bearer {TOKEN}", f"Bearer {TOKEN}"], "/operator", Access.MISSING),
        (["Bearer nope"], f"/operator?token={TOKEN}", Access.WRONG),
        ([], "/operator?token=nope", Access.WRONG),
        ([], f"/operator?token={TOKEN}&token={TOKEN}", Access.WRONG),
        ([f"Bearer {TOKEN}x"], "/operator", Access.WRONG),
        (["Bearer tökën"], "/operator", Access.WRONG),
    ],
)
def test_token_from_bearer_header_or_query(authorization, target, expected):
    """The Bearer header, else the token query parameter, decides: OK, MISSING (401) or WRONG (403)."""
    assert OperatorAuth(TOKEN).check(authorization, target) is expected


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_configured_disables_the_operator_side(token):
    """Without a configured token every check is DISABLED, whatever the request brings."""
    auth = OperatorAuth(token)
    assert not auth.enabled and auth.check([f"Bearer {TOKEN}"], "/operator") is Access.DISABLED


@pytest.mark.parametrize("token", ["has space", "tab\there", "ünïcode-token-long-enough"])
def test_unusable_tokens_are_refused_without_echoing_them(token):
    """A token with spaces, control characters or non-ASCII is a ConfigError that does not repeat it."""
    with pytest.raises(ConfigError) as error:
        OperatorAuth(token)
    assert token not in str(error.value) and "LATERNA_OPERATOR_TOKEN" in str(error.value)


def test_short_token_is_a_warning_without_the_token(caplog):
    """A short token works but logs a warning that names its length, never the token."""
    with caplog.at_level(logging.WARNING):
        assert OperatorAuth("short1").check(["Bearer short1"], "/") is Access.OK
    assert "short1" not in caplog.text and "6 characters" in caplog.text
    assert "short1" not in repr(OperatorAuth("short1"))


def test_presented_token_decodes_the_query():
    """Percent-encoded query values are decoded before comparison."""
    assert presented_token([], "/operator?token=a%2Bb%3D") == "a+b="


def test_redacting_logger_hides_token_headers_and_query_values(caplog):
    """Lines through RedactingLogger show [redacted] for the token, Authorization values and token= values."""
    logger = RedactingLogger(logging.getLogger("test.redact"), OperatorAuth(TOKEN).redactor())
    with caplog.at_level(logging.DEBUG, logger="test.redact"):
        logger.debug("< GET %s HTTP/1.1", f"/operator/ws?token={TOKEN}&x=1")
        logger.debug("< %s: %s", "Authorization", "Bearer some-other-guess")
        logger.info("odd %s %s", "args")  # a broken format still logs
        logger.debug("mentions %s plainly", TOKEN)
    text = caplog.text
    assert TOKEN not in text and "some-other-guess" not in text
    assert f"token={REDACTED}&x=1" in text and f"Authorization: {REDACTED}" in text


def test_the_query_counts_only_where_the_caller_allows_it():
    """check(..., query=False) ignores a token query parameter (MISSING) but still takes the Bearer header."""
    auth = OperatorAuth(TOKEN)
    assert auth.check([], f"/operator/state?token={TOKEN}", query=False) is Access.MISSING
    assert auth.check([f"Bearer {TOKEN}"], "/operator/state?token=x", query=False) is Access.OK


def test_redaction_decodes_the_query_before_judging_it(caplog):
    """A percent-encoded name (?%74oken=) or value of the token is redacted too; other parameters are kept."""
    logger = RedactingLogger(logging.getLogger("test.redact"), OperatorAuth(TOKEN).redactor())
    encoded_value = TOKEN.replace("-", "%2D")
    with caplog.at_level(logging.DEBUG, logger="test.redact"):
        logger.debug("< GET /operator/ws?%%74oken=%s&width=64 HTTP/1.1", TOKEN[:-1] + "%" + f"{ord(TOKEN[-1]):02X}")
        logger.debug("< GET /operator?x=%s", encoded_value)
        logger.debug("< GET /operator?TOKEN=guessed-value")
    text = caplog.text
    assert "guessed-value" not in text and encoded_value not in text and TOKEN[:-1] not in text
    assert f"%74oken={REDACTED}&width=64" in text and f"x={REDACTED}" in text
