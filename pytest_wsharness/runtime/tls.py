"""A certificate authority made up for one test session: HTTPS and WSS without the network.

    ca = TestCA()
    async with SimulatedCMS(ssl=ca.issue().server_context()) as cms:
        async with CmsClient(cms.url, ssl=ca.client_context()) as client:
            ...

Keys are EC P-256, generated once per :class:`TestCA` (one for the CA, one shared by every leaf
it issues): a P-256 key takes well under a millisecond where RSA-2048 takes tens, and every TLS
stack the harness meets (Python's ``ssl``, mitmproxy's upstream verification, browsers) accepts
it. The certificates carry the extensions Python 3.13's ``VERIFY_X509_STRICT`` (on by default in
``ssl.create_default_context``) insists on: a critical ``basicConstraints``, ``keyUsage``, subject
and authority key identifiers.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import ssl
import stat
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import UsageError

# Wide enough for a clock that is a little off or a long test session, short enough that a
# leaked CA file is worthless by tomorrow.
VALID_BEFORE = datetime.timedelta(hours=1)
VALID_AFTER = datetime.timedelta(days=1)
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
# Folders holding private keys: the prefix, then the pid and start time of the process that
# made them, so that a later run can tell a killed run's folder (see remove_stale_key_folders).
KEY_FOLDER_PREFIX = "wsharness-keys-"
_KEY_FOLDERS: set[Path] = set()
_KEY_FOLDERS_LOCK = threading.Lock()


class ServerCert:
    """A server certificate issued by a :class:`TestCA`, with its private key.

    Attributes:
        hosts: the names and addresses the certificate is valid for, in order.
        cert_pem: the leaf certificate, PEM.
        key_pem: the leaf's private key, unencrypted PKCS#8 PEM.
    """

    def __init__(self, hosts: tuple[str, ...], cert_pem: str, key_pem: str) -> None:
        self.hosts = hosts
        self.cert_pem = cert_pem
        self.key_pem = key_pem

    def server_context(self) -> ssl.SSLContext:
        """Return a TLS server context presenting this certificate.

        It sends the leaf alone, as most servers do (the root is the client's business), so
        a client that does not trust the CA fails with "unable to get local issuer certificate".
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain() reads files only: write them to a private folder for the call.
        folder = key_folder()
        try:
            chain, key = folder / "cert.pem", folder / "key.pem"
            chain.write_text(self.cert_pem)
            write_private(key, self.key_pem)
            context.load_cert_chain(chain, key)
        finally:
            remove_key_folder(folder)
        return context

    def __repr__(self) -> str:
        return f"ServerCert(hosts={self.hosts!r})"


class TestCA:
    """A self-signed CA, generated in memory, that issues server certificates.

    Its subject is ``pytest-wsharness test CA <random id>`` so that a certificate error or a
    browser's certificate viewer names it plainly; it is valid from an hour ago to a day ahead.

    Args:
        name: the CA's common name. It defaults to ``pytest-wsharness``, ``label`` and the CA's
            random id.
        label: what the CA is, in its default name (``"test CA"``, ``"proxy CA"``...).
    """

    # Not a test class, whatever its name: keep pytest from trying to collect it.
    __test__ = False

    def __init__(self, name: str | None = None, *, label: str = "test CA") -> None:
        remove_stale_key_folders()
        self.id = secrets.token_hex(4)
        self.name = name or f"pytest-wsharness {label} {self.id}"
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, self.name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pytest-wsharness"),
            ]
        )
        public = self._key.public_key()
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE)
            .not_valid_after(now + VALID_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def leaf_spki(self) -> str:
        """The base64 SHA-256 of the public key every certificate it issues carries.

        What Chromium's ``--ignore-certificate-errors-spki-list`` takes: a browser that cannot be
        handed a CA (Chromium reads its own store) trusts this CA's certificates by it.
        """
        der = self._leaf_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")

    @property
    def pem(self) -> str:
        """The CA certificate, PEM: what a client must trust."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def issue(self, hosts: Sequence[str] = DEFAULT_HOSTS) -> ServerCert:
        """Issue a server certificate for ``hosts``.

        Args:
            hosts: names and IP addresses; addresses go in the subject alternative names as
                ``IPAddress``, names as ``DNSName``. The first is also the common name. It
                defaults to ``("127.0.0.1", "localhost")``.

        Raises:
            UsageError: ``hosts`` is empty or holds an empty name.
        """
        # A bare string is a sequence too: "localhost" must not become nine one-letter names.
        if isinstance(hosts, str) or not hosts or not all(hosts):
            raise UsageError(f"hosts must be a non-empty list of names or addresses: {hosts!r}")
        names = tuple(hosts)
        sans: list[x509.GeneralName] = []
        for host in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        public = self._leaf_key.public_key()
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE)
            .not_valid_after(now + VALID_AFTER)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        key_pem = self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        return ServerCert(names, cert_pem, key_pem)

    def client_context(
        self, extra_cas: Iterable[str | Path] = (), also_trust: Iterable[str] = ()
    ) -> ssl.SSLContext:
        """Return a TLS client context that trusts this CA only, plus ``extra_cas``.

        Hostnames are checked and certificates verified, as a browser does.

        Args:
            extra_cas: more CA PEM files to trust.
            also_trust: more CA certificates to trust, PEM text: e.g. a TLS-intercepting
                proxy's (``Proxy.client_trust``), as on a machine its company manages.
        """
        context = ssl.create_default_context(cadata=self.pem)
        for path in extra_cas:
            context.load_verify_locations(cafile=path)
        for pem in also_trust:
            context.load_verify_locations(cadata=pem)
        return context

    def write_signing_store(self, folder: str | Path) -> Path:
        """Write this CA's key and certificate as mitmproxy's ``mitmproxy-ca.pem`` in ``folder``.

        For a proxy that terminates TLS with certificates this CA signs; ``folder`` must be
        private to that proxy (:func:`key_folder`) and removed when it stops. The file is the
        owner's only (0600).
        """
        path = Path(folder) / "mitmproxy-ca.pem"
        key = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        write_private(path, key + self.pem)
        return path

    def write(self, folder: str | Path) -> Path:
        """Write the CA certificate into ``folder`` (created if missing) and return its path.

        For what needs a file: mitmproxy's ``ssl_verify_upstream_trusted_ca``, a browser,
        ``ssl.create_default_context(cafile=...)``. The private key is never written.
        """
        path = Path(folder) / f"pytest-wsharness-ca-{self.id}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.pem)
        return path

    def __repr__(self) -> str:
        return f"TestCA(name={self.name!r})"


def key_folder() -> Path:
    """Make a folder for private keys: the owner's only (0700), in the temporary folder,
    named ``wsharness-keys-<pid>-<process start>-<random>``, removed at exit.

    Remove it with :func:`remove_key_folder` once its keys are read. A process killed with
    SIGKILL runs no exit handler; its name lets the next run find it
    (:func:`remove_stale_key_folders`).
    """
    folder = Path(tempfile.mkdtemp(prefix=f"{KEY_FOLDER_PREFIX}{_run_id(os.getpid())}-"))
    with _KEY_FOLDERS_LOCK:
        _KEY_FOLDERS.add(folder)
    return folder


def remove_key_folder(folder: Path) -> None:
    """Remove a folder :func:`key_folder` made, and what is in it; idempotent."""
    shutil.rmtree(folder, ignore_errors=True)
    with _KEY_FOLDERS_LOCK:
        _KEY_FOLDERS.discard(folder)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600) from the first byte."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        # A file that existed keeps its mode through O_CREAT: make it private too.
        os.fchmod(file.fileno(), 0o600)
        file.write(text)


def remove_stale_key_folders(parent: Path | None = None) -> list[Path]:
    """Remove the key folders that runs of this user, now gone, left in ``parent``.

    A folder is stale when the process its name records no longer runs: its pid is free, or
    taken by a process that started at another time (the pid was reused). Folders of other
    users, and of processes still running, are left alone.

    Args:
        parent: where :func:`key_folder` makes them. It defaults to the temporary folder.

    Returns:
        The folders removed.
    """
    removed = []
    uid = os.getuid()
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{KEY_FOLDER_PREFIX}*"):
        pid, _, rest = folder.name.removeprefix(KEY_FOLDER_PREFIX).partition("-")
        started = rest.rpartition("-")[0]
        try:
            info = folder.lstat()
        except OSError:
            continue  # removed meanwhile, by its own process or another run
        if not (pid.isdigit() and stat.S_ISDIR(info.st_mode) and info.st_uid == uid):
            continue
        if _run_id(int(pid)) == f"{pid}-{started}":
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _run_id(pid: int) -> str:
    """``<pid>-<start time>`` of a running process, ``<pid>-gone`` for one that is not.

    The start time (in clock ticks since boot, from ``/proc``) tells a reused pid apart; where
    ``/proc`` is missing it is ``0`` and the pid alone counts.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"{pid}-gone"
    except PermissionError:
        pass  # another user's process: alive
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return f"{pid}-0"
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    return f"{pid}-{stat_line.rpartition(')')[2].split()[19]}"


def _remove_key_folders_at_exit() -> None:
    with _KEY_FOLDERS_LOCK:
        folders = list(_KEY_FOLDERS)
    for folder in folders:
        remove_key_folder(folder)


# A proxy thread that never ran its cleanup (the process is exiting) leaves its folder here.
atexit.register(_remove_key_folders_at_exit)


def _now() -> datetime.datetime:
    # Timezone-aware: cryptography warns about naive datetimes, and the suite makes warnings errors.
    return datetime.datetime.now(datetime.UTC)
