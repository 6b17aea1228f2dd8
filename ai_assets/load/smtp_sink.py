"""`send_reply` actions as e-mails through an SMTP server (stdlib `smtplib`).

The recipient is the ticket's customer as the CRM has them (`customers.email`, joined on the
action's `customer_id`): structured columns only, never ticket or model text. A customer without a
usable address fails the action, saying where to add one; it is never dropped.

Exactly once: SMTP cannot be asked whether it already has a message, so the sink keeps its own
journal (`outbox/smtp_journal.txt`, beside the ledger) of the Message-IDs the server accepted,
written and fsynced right after the server's 250 to DATA, under a file lock. A run that died
between that answer and the ledger's record finds the message there and does not send it again.
What remains is the moment between the 250 and the journal's fsync: a crash exactly there sends the
message once more on the next run, with the same Message-ID (derived from the action id), by which
mail servers and mail clients recognise the copy.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO

from ai_assets.load.contacts import SUBJECT_CHARS, has_control_characters, header_text, is_email_address
from ai_assets.load.outbox import Undeliverable, locked_file
from ai_assets.secrets import from_environment, scrub_secrets
from ai_assets.state import Statements, connect, create_tables

# Each security mode and its usual port: STARTTLS on submission, TLS from the first byte, plain.
SMTP_SECURITY = {"starttls": 587, "ssl": 465, "none": 25}
# The login comes from the environment when the sink connects, never from a setting (see config.py).
SMTP_USER_VARIABLE, SMTP_PASSWORD_VARIABLE = "AI_ASSETS_SMTP_USER", "AI_ASSETS_SMTP_PASSWORD"


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: the one place a login may travel without TLS."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def message_id(action_id: str, from_address: str) -> str:
    """The same for every send of an action: a resend is recognisable as the same message."""
    return f"<{action_id}@ai-assets.{from_address.rsplit('@', 1)[1]}>"


def reply_message(action: dict, from_address: str) -> EmailMessage:
    """The e-mail of a `send_reply` action: to the CRM address of the action's customer, with the
    ticket's subject after `Re: ` when there is one, and a Message-ID derived from the action id.

    `action` is an outbox row with its contacts (`contacts.with_contacts`): `customer_email` and
    `customer_name` come from the CRM, `ticket_subject` from the ticket."""
    payload = json.loads(action["payload"])
    customer = payload["customer_id"]
    address = (action.get("customer_email") or "").strip()
    if not is_email_address(address):
        found = "has an e-mail address that is not one" if address else "has no e-mail address"
        raise Undeliverable(
            f"customer {customer} {found}: add it to the email column of landing/crm/customers.csv and "
            "materialise customers (reference_data_job); the next delivery run sends the reply"
        )
    # Ticket and CRM text only through header_text: on one line however it is encoded.
    subject = header_text(action.get("ticket_subject") or "", SUBJECT_CHARS)
    ticket = header_text(payload["ticket_id"])
    # SMTP: CRLF line ends, and header values with a raw line break are refused when set.
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_address
    # An Address, not a string: the name is never parsed for addresses, so it cannot add a recipient.
    message["To"] = Address(display_name=header_text(action.get("customer_name") or ""), addr_spec=address)
    if not subject:
        message["Subject"] = f"Your support request {ticket}"
    else:
        message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(action["action_id"], from_address)
    # Tickets carry no Message-ID of the customer's mail: no In-Reply-To; these name the ticket instead.
    message["X-AI-Assets-Ticket-Id"] = ticket
    message["X-AI-Assets-Action-Id"] = action["action_id"]
    message.set_content(payload["reply"])
    _refuse_if_read_back_differently(message, customer)
    return message


def _refuse_if_read_back_differently(message: EmailMessage, customer: str) -> None:
    """The last line of defence: the message as a mail server will read it has exactly the headers
    set here, each on one line once decoded, and the approved reply as its body. Anything else is
    not sent (older Pythons let a decoded line break through when writing a header)."""
    # Written as smtplib writes it, with \n line ends so the body compares equal to what was set.
    received = message_from_bytes(message.as_bytes(policy=policy.default), policy=policy.default)
    same = received.keys() == message.keys() and received.get_content() == message.get_content()
    if not same or any(has_control_characters(str(value)) for value in received.values()):
        raise Undeliverable(
            f"the reply to customer {customer} would not reach them as written (a header of ticket "
            "or CRM text reads back as several): it was not sent; review the ticket's subject and "
            "the customer's name in landing/crm/customers.csv"
        )


_log = logging.getLogger(__name__)
_SENT_TABLE = "CREATE TABLE IF NOT EXISTS smtp_sent (message_id TEXT PRIMARY KEY, recorded_at TEXT)"


class SharedSentJournal:
    """`SentJournal` in the shared state (AI_ASSETS_STATE_URL, `ai_assets/state.py`): one row per
    Message-ID, so a machine that takes over another machine's dead claim finds what it sent."""

    def __init__(self, location: str | Path) -> None:
        self._conn = connect(location)
        self._lock = threading.Lock()  # one connection, the sink's calling threads
        create_tables(self._conn, [_SENT_TABLE])

    def has(self, message_id: str) -> bool:
        with self._lock:
            found = Statements(self._conn).execute("SELECT 1 FROM smtp_sent WHERE message_id = ?", (message_id,))
            return found.fetchone() is not None

    def record(self, message_id: str) -> None:
        # Autocommit: recorded (durably, by the database) before the sink reports the send.
        with self._lock:
            Statements(self._conn).execute(
                "INSERT INTO smtp_sent (message_id) VALUES (?) ON CONFLICT (message_id) DO NOTHING", (message_id,)
            )


@dataclass
class SentJournal:
    """The Message-IDs an SMTP server accepted, one per line, appended and fsynced under a lock.

    A last line without its newline was cut short by a crash during the write: it is completed when
    it holds a whole Message-ID and cut off otherwise (within the window the module describes)."""

    path: Path
    _ids: set[str] = field(default_factory=set, init=False, repr=False)
    _offset: int = field(default=0, init=False, repr=False)

    def _locked(self) -> AbstractContextManager[BinaryIO]:
        return locked_file(self.path, self._catch_up)

    def _catch_up(self, handle: BinaryIO) -> None:
        if os.fstat(handle.fileno()).st_size < self._offset:  # replaced by someone: read it again
            self._ids, self._offset = set(), 0
        handle.seek(self._offset)
        data = handle.read()
        whole = data.rfind(b"\n") + 1
        self._ids |= {line.decode() for line in data[:whole].split() if line}
        self._offset += whole
        torn = data[whole:].strip()
        if torn:
            if torn.startswith(b"<") and torn.endswith(b">"):
                handle.write(b"\n")
                self._ids.add(torn.decode())
                self._offset += len(data) - whole + 1
            else:
                os.ftruncate(handle.fileno(), self._offset)
            handle.flush()
            os.fsync(handle.fileno())

    def has(self, message_id: str) -> bool:
        with self._locked():
            return message_id in self._ids

    def record(self, message_id: str) -> None:
        with self._locked() as handle:
            if message_id in self._ids:
                return
            line = f"{message_id}\n".encode()
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
            self._ids.add(message_id)
            self._offset += len(line)


@dataclass
class SmtpSink:
    """Sends each `send_reply` action as one e-mail, one connection per message."""

    host: str
    port: int
    security: str  # a key of SMTP_SECURITY
    from_address: str
    journal: SentJournal | SharedSentJournal
    timeout_s: float = 10.0
    name: str = "smtp"

    def already_has(self, action_id: str) -> bool:
        return self.journal.has(message_id(action_id, self.from_address))

    def _journal(self, sent_id: str) -> None:
        """Records a message the server accepted. It was sent: a journal that fails (its database
        unreachable) must not make the step send it again, so the failure is only said; the ledger
        still records the delivery, and only a run that dies right now could not tell."""
        try:
            self.journal.record(sent_id)
        except Exception as error:  # noqa: BLE001 - any failure of the journal, after a send that happened
            _log.warning(f"sent {sent_id}, but the SMTP journal did not record it: {scrub_secrets(str(error))}")

    def send(self, action: dict, timeout_s: float | None = None) -> None:
        message = reply_message(action, self.from_address)  # before connecting: a bad recipient sends nothing
        timeout = min(self.timeout_s, timeout_s) if timeout_s is not None else self.timeout_s
        where = f"SMTP server {self.host}:{self.port}"
        try:
            with self._session(timeout) as smtp:
                smtp.send_message(message)  # returns after the server's 250 to DATA
                self._journal(message["Message-ID"])  # before QUIT, which may fail after the send
        except smtplib.SMTPAuthenticationError as error:
            raise RuntimeError(
                f"{where} refused the login ({error.smtp_code}): check {SMTP_USER_VARIABLE} and "
                f"{SMTP_PASSWORD_VARIABLE}"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            raise RuntimeError(f"{where}: {error} (AI_ASSETS_SMTP_SECURITY, {SMTP_USER_VARIABLE})") from None
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise RuntimeError(f"{where} refused the recipient: {code} {_text(text)}") from None
        except smtplib.SMTPResponseException as error:
            raise RuntimeError(f"{where} answered {error.smtp_code} {_text(error.smtp_error)}") from None
        except ssl.SSLError as error:
            raise RuntimeError(f"TLS with {where} failed: {error} (AI_ASSETS_SMTP_SECURITY)") from None
        except TimeoutError:
            raise RuntimeError(f"{where} did not answer within {timeout:g} s (AI_ASSETS_OUTBOX_TIMEOUT_S)") from None
        except (OSError, smtplib.SMTPException) as error:
            raise RuntimeError(f"{where} unreachable: {error}") from None

    @contextmanager
    def _session(self, timeout: float) -> Iterator[smtplib.SMTP]:
        """A connection, secured and logged in as configured; closed however the block ends."""
        context = ssl.create_default_context()
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            user = from_environment(SMTP_USER_VARIABLE)
            if user:
                smtp.login(user, from_environment(SMTP_PASSWORD_VARIABLE))
            yield smtp
        finally:
            try:
                smtp.quit()  # after an accepted message, a failed goodbye changes nothing
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
