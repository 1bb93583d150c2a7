"""A local RFC 3161 timestamp authority on 127.0.0.1, for tests, the demo and dry runs.

It answers ``application/timestamp-query`` POSTs with ``openssl ts -reply``, signed by a
TSA certificate (critical EKU id-kp-timeStamping) issued by its own CA. The keys and
certificates are generated once into a directory and reused, so tokens issued by an earlier
run still verify. Its CA is *not* trusted by anyone unless an operator says so: this is a
stand-in for a real TSA, never evidence-grade on its own.

    python -m demo.tsa_local --dir ./tsa [--port 3161]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_QUERY = 64 * 1024
POLICY = "1.3.6.1.4.1.4146.2.3"  # any OID: openssl needs a default policy

CONFIG = """\
[ tsa ]
default_tsa = local_tsa

[ local_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = yes
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "witnessbox local TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_pki(directory: Path, now: dt.datetime | None = None) -> None:
    """Create ca.pem, tsa.pem, tsa.key, serial and openssl.cnf unless they exist."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "openssl.cnf").exists():
        return
    now = now or dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("witnessbox local TSA root"))
        .issuer_name(_name("witnessbox local TSA root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("witnessbox local TSA"))
        .issuer_name(ca.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
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
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", ca_key)
    _write_key(directory / "tsa.key", tsa_key)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    (directory / "serial").write_text("01\n")
    (directory / "openssl.cnf").write_text(CONFIG.format(dir=directory, policy=POLICY))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_POST(self) -> None:
        self.server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        if self.server.fail_with:
            self.send_error(self.server.fail_with, "told to fail")
            return
        if not 0 < length <= MAX_QUERY:
            self.send_error(400, "bad query length")
            return
        query = self.rfile.read(length)
        try:
            reply = self.server.reply(query)
        except subprocess.CalledProcessError as exc:
            self.send_error(400, (exc.stderr or b"").decode(errors="replace")[:200])
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory: Path, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.directory = directory
        self.requests = 0
        self.fail_with = 0  # an HTTP status to answer with instead (tests)
        self._lock = threading.Lock()  # openssl's serial file is not safe to share

    def reply(self, query: bytes) -> bytes:
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(self.directory / "openssl.cnf"),
                    "-queryfile",
                    str(q),
                    "-chain",
                    str(self.directory / "ca.pem"),
                    "-out",
                    str(r),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            return r.read_bytes()


class LocalTSA:
    """Start with ``start()`` (or as a context manager); ``url`` and ``ca_pem`` tell clients."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory).resolve()
        make_pki(self.directory)
        self._server = _Server(self.directory, host, port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/tsr"

    @property
    def ca_pem(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def requests(self) -> int:
        return self._server.requests

    def fail(self, status: int) -> None:
        """Answer every request with this HTTP status (0: work again)."""
        self._server.fail_with = status

    def start(self) -> LocalTSA:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> LocalTSA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="keys and certificates")
    parser.add_argument("--port", type=int, default=3161)
    args = parser.parse_args()
    tsa = LocalTSA(args.dir, port=args.port)
    print(f"RFC 3161 TSA at {tsa.url}; its CA certificate: {tsa.ca_pem}", flush=True)
    try:
        tsa._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
