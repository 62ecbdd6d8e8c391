"""Signed values, one serializer (salt) per purpose, and the keyed hashes for IPs and avatars."""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer


class Purpose(enum.StrEnum):
    """Each signed value's purpose is its salt: a token for one is worthless for another."""

    SIGN_IN = "sign-in"  # the moderator's one-time link to set a password
    SESSION = "session"  # the moderator's session cookie
    MAIL_SIGN_IN = "mail-sign-in"  # "email me a sign-in link": one sign-in, minutes long
    MAIL_ACTION = "mail-action"  # approve/hide/ban links in moderators' mail
    CONFIRM_EMAIL = "confirm-email"  # double opt-in for reply notifications
    UNSUBSCRIBE = "unsubscribe"
    FORM_STAMP = "form-stamp"  # when a reader opened the comment form
    CHALLENGE = "challenge"  # a proof of work asked of a reader under pressure
    READER_LINK = "reader-link"  # a reader's mailed sign-in link: one sign-in, minutes long
    READER = "reader"  # a signed-in reader's token, kept in the embed's localStorage


@dataclass(frozen=True)
class EditClaim:
    """What an edit token says: this comment, with this text, editable until then."""

    comment_id: int
    text_hash: str
    expires: datetime


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Tokens:
    """Everything signed or keyed with the server secret."""

    def __init__(self, secret_key: str) -> None:
        # Expiry is bound to the comment (created + edit window), not to when a token was signed,
        # so an edit does not extend the window: the serializer itself is untimed.
        self._edit = URLSafeSerializer(secret_key, salt="comments.edit-token")
        self._purposes = {
            purpose: URLSafeSerializer(secret_key, salt=f"comments.{purpose}")
            for purpose in Purpose
        }
        self._csrf_key = hmac.digest(secret_key.encode(), b"comments.csrf", "sha256")
        self._ip_key = hmac.digest(secret_key.encode(), b"comments.ip-hash", "sha256")
        self._avatar_key = hmac.digest(secret_key.encode(), b"comments.avatar", "sha256")
        namespace = hmac.new(secret_key.encode(), b"comments.namespace", "sha256")
        self._namespace = namespace.hexdigest()[:12]

    def sign_edit(self, claim: EditClaim) -> str:
        return self._edit.dumps([claim.comment_id, claim.text_hash, int(claim.expires.timestamp())])

    def read_edit(self, token: str) -> EditClaim | None:
        """The claim of a genuine token, or None for anything forged, tampered or malformed."""
        try:
            comment_id, hashed, expires = self._edit.loads(token)
            return EditClaim(
                int(comment_id), str(hashed), datetime.fromtimestamp(int(expires), UTC)
            )
        except (BadSignature, ValueError, TypeError):
            return None

    def hash_ip(self, ip: str) -> str:
        """A keyed hash of the address with its host part dropped (/24 for IPv4, /64 for IPv6)."""
        try:
            address = ipaddress.ip_address(ip)
            prefix = 24 if address.version == 4 else 64
            network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        except ValueError:
            network = "unknown"
        return hmac.new(self._ip_key, network.encode(), "sha256").hexdigest()[:32]

    def avatar(self, email: str | None, author: str | None = None, ip: str = "") -> str:
        """A keyed hash to draw an identicon from, one per person as far as we can tell: the
        email, else the name with the full address. Never the network alone (as the address
        hash is): two people of one office or provider would share a face, and show that they
        share a network. Neither email nor address can be recovered from it."""
        # An email alone, as before: the faces of comments already stored stay those people's.
        identity = (email,) if email else ("address", ip, author or "")
        return hmac.new(self._avatar_key, "\0".join(identity).encode(), "sha256").hexdigest()[:16]

    def namespace(self) -> str:
        """A short keyed name of this installation: keeps its keys apart in a shared Redis."""
        return self._namespace

    def sign(self, purpose: Purpose, payload: dict[str, Any], expires: datetime) -> str:
        """A URL-safe token carrying `payload` for one purpose until `expires`."""
        return self._purposes[purpose].dumps({**payload, "exp": int(expires.timestamp())})

    def read(self, purpose: Purpose, token: str, now: datetime) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired token of this purpose; None for anything else."""
        try:
            payload = self._purposes[purpose].loads(token)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            return None
        if now.timestamp() >= payload.pop("exp"):
            return None
        return payload

    def csrf(self, session_token: str) -> str:
        """The form token bound to one session: a page from another site cannot know it."""
        return hmac.new(self._csrf_key, session_token.encode(), "sha256").hexdigest()[:32]

    @staticmethod
    def digest(token: str) -> str:
        """How a used one-time link is remembered without keeping the link itself."""
        return hashlib.sha256(token.encode()).hexdigest()
