"""A real S3-compatible server on 127.0.0.1 for the remote-storage tests: moto's server mode.

:func:`start` runs ``python -m moto.server`` on a free port with authentication
switched on after its first three requests, which create an IAM user allowed ``s3:*``
and its access key; every later request must be signed with a key the server knows, so
a wrong key is refused (403) as a real bucket would refuse it.  :meth:`S3Server.env`
is the environment that points boto3 / s3fs (in-process or in a CLI subprocess) at it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    """A running moto server and the credentials it accepts."""

    process: subprocess.Popen[bytes]
    url: str
    key: str = ""
    secret: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, *, key: str | None = None, secret: str | None = None) -> dict[str, str]:
        """Environment variables that point AWS clients at this server."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ENDPOINT_URL_S3": self.url,
                "AWS_ACCESS_KEY_ID": self.key if key is None else key,
                "AWS_SECRET_ACCESS_KEY": self.secret if secret is None else secret,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", **self.extra}

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crash or a network cut would."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start() -> S3Server:
    """Start a moto server, create the IAM user the tests sign with; see the module doc."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto server did not start on {url}") from None
            time.sleep(0.05)
    server = S3Server(process, url)
    try:
        import boto3

        iam: Any = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                                aws_access_key_id="bootstrap",
                                aws_secret_access_key="bootstrap")
        iam.create_user(UserName="pysavedmodel-tests")
        iam.put_user_policy(UserName="pysavedmodel-tests", PolicyName="s3",
                            PolicyDocument=_POLICY)
        created = iam.create_access_key(UserName="pysavedmodel-tests")["AccessKey"]
    except BaseException:
        server.kill()
        raise
    server.key = created["AccessKeyId"]
    server.secret = created["SecretAccessKey"]
    return server
