"""Keep credentials out of every message, log line, JSON output and dead letter.

One function, `redact(text)`, is used everywhere text leaves the process. It replaces with `***`:
  - every known secret value: the `SecretStr` settings (SASL password, Weaviate API key) and
    the credentials found in the URL-like settings (the password of `scheme://user:pw@host` or
    `user:pw@host`, the value of `?api_key=...`, `token=`, `password=`, ...);
  - any URL userinfo password and credential query value in the text, known or not.

Known secrets are registered per process: `register_settings` (from a loaded `Settings`) and
`register_environment` (from the raw `FRESHINDEX_*` variables, so that a value is covered even
when the settings fail to load). `install_log_redaction` makes every log record of every logger
(freshindex, kafka, faust, aiokafka, weaviate, tritonclient, uvicorn, ...) pass through `redact`
when it is created; `RedactingStream` wraps the CLI's stdout/stderr as the last guard.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO, get_args

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from schemas.models import DeadLetter

if TYPE_CHECKING:
    from schemas.settings import Settings

MASK = "***"

_CREDENTIAL_PARAMS = (
    r"api[_-]?key|apikey|access[_-]?token|token|password|passwd|pwd|secret|sig|signature|key"
)
# a password runs to the last `@` before the host (an unencoded `@` in it is still covered)
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s/:@'\"]*:)(?P<pw>[^\s/'\"]+)@")
_BARE_USERINFO = re.compile(r"^(?P<head>[^\s/:@'\"]+:)(?P<pw>[^\s/'\"]+)@")
_QUERY_CREDENTIAL = re.compile(
    rf"(?P<head>[?&;](?:{_CREDENTIAL_PARAMS})=)(?P<pw>[^\s&#'\"]+)", re.IGNORECASE
)

_known: tuple[str, ...] = ()
"""Registered secret values, longest first (a secret inside another leaves no part behind)."""


def redact(text: str) -> str:
    """`text` with every known secret and every URL credential replaced by `***`."""
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(rf"\g<head>{MASK}@", text)
    return _QUERY_CREDENTIAL.sub(rf"\g<head>{MASK}", text)


def credentials_in(value: str) -> set[str]:
    """The credentials inside a URL-like value (a comma-separated list of addresses allowed):
    userinfo passwords (with or without a scheme) and credential query parameter values."""
    found: set[str] = set()
    for address in value.split(","):
        address = address.strip()
        for pattern in (_URL_USERINFO, _BARE_USERINFO, _QUERY_CREDENTIAL):
            found.update(m.group("pw") for m in pattern.finditer(address))
    return found


def has_userinfo(address: str) -> bool:
    """Whether a host:port address (scheme optional) carries `user[:password]@`."""
    host = address.strip().split("://", 1)[-1]
    return "@" in host.split("/", 1)[0]


def register(secrets: Iterable[str]) -> None:
    """Add values to redact from now on, in this process (empty values are ignored), each also
    as a repr or JSON string shows it (a quote or backslash in it escaped)."""
    global _known
    merged = set(_known) | {form for s in secrets if s for form in _written_forms(s)}
    _known = tuple(sorted(merged, key=len, reverse=True))


def _written_forms(secret: str) -> set[str]:
    """The secret, and its escaped forms inside a repr'd or JSON string."""
    return {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def forget_all() -> None:
    """Drop every registered value (tests)."""
    global _known
    _known = ()


def secrets_of(settings: Settings) -> set[str]:
    """Every `SecretStr` value of the settings and every credential inside their string values."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, str):
            found |= credentials_in(value)
    return found - {""}


def register_settings(settings: Settings) -> None:
    """Redact the settings' secrets from now on."""
    register(secrets_of(settings))


def register_environment(environ: Mapping[str, str], settings_type: type[BaseSettings]) -> None:
    """Redact, from now on, the raw values of the settings' variables: all of a `SecretStr`
    setting (`FRESHINDEX_KAFKA_SASL_PASSWORD`), the credentials inside the others. Read from the
    environment, so they are covered even when the settings fail to load."""
    prefix = str(settings_type.model_config.get("env_prefix", ""))
    variables = {name.upper(): value for name, value in environ.items()}  # as pydantic reads
    for name, field in settings_type.model_fields.items():
        value = variables.get(f"{prefix}{name}".upper())
        if value:
            register([value] if _is_secret(field.annotation) else credentials_in(value))


def _is_secret(annotation: Any) -> bool:
    """Whether a field's type is `SecretStr` (or an optional one)."""
    return annotation is SecretStr or SecretStr in get_args(annotation)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a log record in place: its message (args folded in when it changes), its
    exception text (the exception itself is dropped when its text held a secret) and stack."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it when it is formatted
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            record.exc_info, record.exc_text = None, clean
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def redact_letter(letter: DeadLetter) -> DeadLetter:
    """The dead letter with every credential out of its message and payload."""
    fields = letter.model_dump()  # validated again: the model bounds the redacted texts
    return DeadLetter.model_validate(
        {**fields, "message": redact(letter.message), "payload": redact(letter.payload)}
    )


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record (and never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process when it is created. A record factory rather
    than filters on loggers: a logger's filter misses its children's records (`kafka.net.*`,
    `faust.transport.*`), and handlers (Faust's) are added after start-up; the factory covers
    every logger (freshindex, kafka, faust, mode, aiokafka, weaviate, tritonclient, uvicorn, ...)
    and every handler. Idempotent."""
    global _factory_installed
    if _factory_installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
    _factory_installed = True


class RedactingStream:
    """A text stream that redacts what is written to it before passing it on (the CLI's
    stdout/stderr: command output, tracebacks, warnings, Faust's own prints)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
