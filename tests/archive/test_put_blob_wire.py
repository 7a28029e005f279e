"""The archive's own Put Blob request is the one ``azure-storage-blob`` sends, byte for byte.

For every credential form the archive accepts (Shared Key from an account-key connection
string, a SAS connection string, a Microsoft Entra token credential) the same blobs are written
through the SDK (``WABRIDGE_BLOB_WRITER=sdk``) and through ``PutBlobWriter`` to one loopback https
endpoint, which keeps what it received (tests/support/put_blob_capture.py). The writer is given
the SDK request's ``x-ms-date`` and ``x-ms-client-request-id``; every other byte is its own:
method, path, query (the SAS and its signature), every header line and its value (the Shared Key
``Authorization`` is an HMAC of the canonical request, so equal signatures mean equal canonical
requests) and the body. Only ``User-Agent`` differs. When an upgrade of the SDK changes its
request, this test fails: update the writer, or set ``WABRIDGE_BLOB_WRITER=sdk``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.azurite import ACCOUNT, ROOT
from tests.support.put_blob_capture import BLOBS, FixedToken
from tests.support.tls import make_loopback_cert

FORMS = ("shared_key", "sas", "entra")


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> dict:
    cert = make_loopback_cert(tmp_path_factory.mktemp("tls"))
    env = {**os.environ, "SSL_CERT_FILE": str(cert.cert_file), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.put_blob_capture",
            str(cert.cert_file),
            str(cert.key_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pairs(captured: dict, form: str) -> list[dict]:
    pairs = captured[form]
    assert [p["blob"] for p in pairs] == [name for name, *_ in BLOBS]
    return pairs


def _without_user_agent(request: dict) -> list[list[str]]:
    return [h for h in request["headers"] if h[0].lower() != "user-agent"]


def _header(request: dict, name: str) -> str | None:
    values = [v for k, v in request["headers"] if k.lower() == name]
    assert len(values) <= 1, (name, values)
    return values[0] if values else None


@pytest.mark.parametrize("form", FORMS)
def test_every_byte_of_the_request_but_the_user_agent_is_the_sdks(captured, form):
    for pair in _pairs(captured, form):
        sdk, rest = pair["sdk"], pair["rest"]
        assert rest["method"] == sdk["method"] == "PUT"
        assert rest["path"] == sdk["path"], pair["blob"]
        assert _without_user_agent(rest) == _without_user_agent(sdk), pair["blob"]
        assert rest["body"] == sdk["body"]
        assert _header(rest, "user-agent") == "wabridge-archive"
        assert _header(sdk, "user-agent").startswith("azsdk-python-storage-blob/")


@pytest.mark.parametrize("form", FORMS)
def test_the_request_is_a_conditional_put_blob_carrying_type_tags_and_md5(captured, form):
    """What the equality above is about: the headers the service acts on are there."""
    for pair, (_, data, content_type, tags) in zip(_pairs(captured, form), BLOBS, strict=True):
        rest = pair["rest"]
        assert _header(rest, "if-none-match") == "*"
        assert _header(rest, "x-ms-blob-type") == "BlockBlob"
        assert _header(rest, "x-ms-blob-content-type") == content_type
        assert _header(rest, "content-length") == str(len(data))
        assert _header(rest, "content-md5")
        assert _header(rest, "x-ms-date") and _header(rest, "x-ms-version")
        assert (_header(rest, "x-ms-tags") is None) is (tags is None)


def test_shared_key_signatures_are_equal_over_names_that_need_encoding(captured):
    for pair in _pairs(captured, "shared_key"):
        signature = _header(pair["rest"], "authorization")
        assert signature.startswith(f"SharedKey {ACCOUNT}:") and len(signature) > 60
        assert signature == _header(pair["sdk"], "authorization")
    # Distinct requests have distinct signatures: the comparison is not of a constant.
    assert len({_header(p["rest"], "authorization") for p in captured["shared_key"]}) == len(BLOBS)


def test_a_sas_goes_in_the_query_exactly_as_the_sdk_sends_it_and_nothing_is_signed_by_us(captured):
    for pair in _pairs(captured, "sas"):
        rest, sdk = pair["rest"], pair["sdk"]
        query = parse_qs(urlsplit(rest["path"]).query)
        assert query["sig"] and query["sp"] == ["wct"]
        assert urlsplit(rest["path"]).query == urlsplit(sdk["path"]).query
        assert _header(rest, "authorization") is None is _header(sdk, "authorization")


def test_an_entra_token_goes_as_the_same_bearer_header(captured):
    for pair in _pairs(captured, "entra"):
        assert _header(pair["rest"], "authorization") == f"Bearer {FixedToken.TOKEN}"
        assert _header(pair["sdk"], "authorization") == f"Bearer {FixedToken.TOKEN}"
        assert "?" not in pair["rest"]["path"]
