"""Addresses: how an origin or a host name is written, and which configured site it reaches."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_address(text: str) -> tuple[str | None, str]:
    """An origin (`https://www.example.org:443`) or a name (`example.org:8080`) as its scheme
    (None for a name) and its host in lower case, with the port only when it is not a default
    one. Raises ValueError for anything else (a path, another scheme, a user name)."""
    text = text.strip().rstrip("/")
    scheme = None
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"{text!r}: only http and https origins")
    else:
        rest = text
    parts = urlsplit("//" + rest)
    if not parts.hostname or parts.path or parts.query or parts.fragment or "@" in rest:
        raise ValueError(f"{text!r} is not a host like example.org or an origin like https://x")
    host = parts.hostname.rstrip(".")
    host = f"[{host}]" if ":" in host else host
    port = parts.port  # ValueError when it is not a number from 0 to 65535
    defaults = {DEFAULT_PORTS[scheme]} if scheme else set(DEFAULT_PORTS.values())
    return scheme, host if port is None or port in defaults else f"{host}:{port}"


def loose_name(host: str) -> str:
    """What a host is short of the differences the web ignores between one site's addresses:
    `www.` (the scheme and a default port are gone already)."""
    return host.removeprefix("www.")


@dataclasses.dataclass(frozen=True)
class SiteTable:
    """Which site an address reaches, in this order of precedence:

    1. an alias written as an origin (`http://blog.example.org:8080`), for that origin exactly;
    2. a site's own name or an alias written as a name (`old-blog.net`), for any scheme;
    3. a name that differs from one of those only by `www.`.

    The sites are those of COMMENTS_SITE_ALIASES and of COMMENTS_ORIGINS: an origin that the
    rules above give no site is a site of its own, named by its host. So two origins that differ
    only by `www.`, scheme or default port are one site, named by whichever comes first, unless
    both names are sites in COMMENTS_SITE_ALIASES (rule 2 beats rule 3).
    """

    sites: tuple[str, ...] = ()
    by_origin: Mapping[str, str] = dataclasses.field(default_factory=dict)
    by_name: Mapping[str, str] = dataclasses.field(default_factory=dict)
    by_loose_name: Mapping[str, str] = dataclasses.field(default_factory=dict)
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, origins: tuple[str, ...], aliases: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> SiteTable:
        """Raises ValueError when a name belongs to two sites."""
        table = cls(allowed_origins=origins)
        by_origin, by_name, by_loose = {}, {}, {}
        owner: dict[str, str] = {}  # every name or origin written, and its site
        for site, _ in aliases:
            by_name[site] = site
            owner[site] = site
        for site, names in aliases:
            for alias in names:
                scheme, host = parse_address(alias)
                key = f"{scheme}://{host}" if scheme else host
                if owner.setdefault(key, site) != site:
                    raise ValueError(f"{alias} is named for both {owner[key]} and {site}")
                (by_origin if scheme else by_name)[key] = site
                if scheme and key not in origins and key not in table.allowed_origins:
                    table = dataclasses.replace(
                        table, allowed_origins=(*table.allowed_origins, key)
                    )
        for name, site in [*by_name.items(), *((host, s) for host, s in by_origin.items())]:
            by_loose.setdefault(loose_name(name.partition("://")[2] or name), site)
        sites: list[str] = []
        for origin in origins:
            found = cls._find(by_origin, by_name, by_loose, origin)
            if found is None:
                found = parse_address(origin)[1]
                by_name[found] = found
                by_loose.setdefault(loose_name(found), found)
            if found not in sites:
                sites.append(found)
        sites += [site for site, _ in aliases if site not in sites]
        return dataclasses.replace(
            table, sites=tuple(sites), by_origin=by_origin, by_name=by_name, by_loose_name=by_loose
        )

    def find(self, address: str) -> str | None:
        return self._find(self.by_origin, self.by_name, self.by_loose_name, address)

    @staticmethod
    def _find(by_origin, by_name, by_loose, address: str) -> str | None:
        try:
            scheme, host = parse_address(address)
        except ValueError:
            return None
        if scheme and f"{scheme}://{host}" in by_origin:
            return by_origin[f"{scheme}://{host}"]
        return by_name.get(host) or by_loose.get(loose_name(host))
