"""A loopback stand-in for the Bot Framework's token issuer: OpenID metadata, signing keys, tokens.

Its keys are made here, at start-up; tests sign channel tokens with them (valid, expired,
wrong audience, wrong issuer) or with a foreign key, and point the service's
``BOT_OPENID_METADATA_URL`` at this server.
"""

from __future__ import annotations

import base64
import time
import uuid

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.threaded import ThreadedServer

CHANNEL_ISSUER = "https://api.botframework.com"


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class BotIdentityFake:
    def __init__(self, endorsements: tuple[str, ...] = ("msteams", "webchat", "emulator")) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.endorsements = list(endorsements)
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/.well-known/openid-configuration", self._metadata)
        app.router.add_get("/keys", self._keys)
        self.server = ThreadedServer(app)
        self.metadata_requests = 0

    def start(self) -> BotIdentityFake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def metadata_url(self) -> str:
        return self.server.base_url + "/v1/.well-known/openidconfiguration"

    async def _metadata(self, request: web.Request) -> web.Response:
        self.metadata_requests += 1
        return web.json_response(
            {
                "issuer": CHANNEL_ISSUER,
                "authorization_endpoint": "https://invalid.example/authorize",
                "jwks_uri": self.server.base_url + "/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        numbers = self.key.public_key().public_numbers()
        return web.json_response(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "use": "sig",
                        "kid": self.kid,
                        "n": _b64(numbers.n),
                        "e": _b64(numbers.e),
                        "endorsements": self.endorsements,
                    }
                ]
            }
        )

    def channel_token(
        self,
        *,
        audience: str,
        service_url: str,
        issuer: str = CHANNEL_ISSUER,
        expires_in: int = 3600,
        key=None,
        kid: str | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 60,
            "iat": now - 60,
            "exp": now + expires_in,
        }
        return jwt.encode(
            claims,
            key or self.key,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )
