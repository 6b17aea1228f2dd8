"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts.

It stands in for a mail server: the SMTP sink under test talks real SMTP (EHLO, STARTTLS or TLS,
AUTH, MAIL, RCPT, DATA) to 127.0.0.1. `login` makes it require that user and password; `tls`
("starttls" or "ssl") serves a self-signed certificate for 127.0.0.1 made on the spot, which a
client trusts through `SSL_CERT_FILE=server.cert_file`. `refusals` are answers it gives to the next
DATA commands instead of accepting (e.g. "451 4.3.0 try again later"), one per message.

Usage::

    with SmtpServer(login=("bot", "pw")) as smtp:
        ...  # point AI_ASSETS_SMTP_HOST / _PORT at smtp.host / smtp.port
        assert smtp.copies() == {}
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ai_assets_tests.fakes.loopback import free_port


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) files for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class SmtpServer:
    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        tls: str | None = None,
        cert_dir: Path | None = None,
        refusals: list[str] | None = None,
    ) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.login, self.tls = login, tls
        self.refusals = list(refusals or [])
        self.messages: list[tuple[list[str], EmailMessage]] = []  # (envelope recipients, message) accepted
        self.logins: list[str] = []  # user names that logged in
        self._lock = threading.Lock()
        self.cert_file: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls:
            self.cert_file, key_file = self_signed_certificate(cert_dir or Path("."))
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(self.cert_file, key_file)
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            self.login
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        # handled=False: aiosmtpd answers 535 itself (with the default, True, it answers nothing at all).
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        """Starts listening (again, on the same port, after `stop`)."""
        options: dict = {"server_hostname": "mail.test", "ident": "test SMTP"}
        if self.login:
            # With STARTTLS, a login only after it. aiosmtpd 1.4 counts only STARTTLS as TLS (a TLS-from-
            # the-first-byte connection would get no AUTH), and plain means a relay on this machine.
            options |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.tls == "starttls",
            }
        if self.tls == "starttls":
            options |= {"tls_context": self._context, "require_starttls": True}
        elif self.tls == "ssl":
            options |= {"ssl_context": self._context}
        self._controller = Controller(self, hostname=self.host, port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def message_ids(self) -> list[str]:
        with self._lock:
            return [message["Message-ID"] for _, message in self.messages]

    def copies(self) -> dict[str, int]:
        """Message-IDs accepted more than once, with how many times."""
        return {key: n for key, n in Counter(self.message_ids()).items() if n > 1}

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
