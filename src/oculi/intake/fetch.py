"""The image URL fetcher; it owns URL policy (SSRF guard, SPEC §2).

Policy is enforced where it cannot be bypassed: in the network backend of the
HTTP client. Every TCP connection — the first request and every redirect hop —
resolves the host once, refuses it if ANY address is loopback, private,
link-local, CGNAT, multicast, unspecified, reserved or a cloud metadata
address (also when embedded in IPv6: IPv4-mapped, 6to4, Teredo, NAT64), and
then connects to exactly the address it checked, so DNS cannot answer
differently between check and use. Host and TLS SNI stay the URL's hostname.
An operator allow-list (``settings.fetch_allow``: hostnames, ``*.suffix``
patterns, IPs or CIDRs) admits what would otherwise be refused.

Redirects are followed by hand (bounded), downloads have a connect timeout and
a total timeout, and the byte limit is enforced from ``Content-Length`` and
again while streaming. Environment proxies are ignored: a proxy would make the
address check meaningless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import httpcore
import httpx

from oculi import __version__
from oculi.errors import ForbiddenImageURL, ImageFetchError, ImageTooLarge, public_reason
from oculi.intake.decode import describe_bytes
from oculi.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT = f"oculi/{__version__} (+image fetcher)"
_REDIRECTS = {301, 302, 303, 307, 308}
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why the fetcher must not connect to ``ip`` by default, or ``None`` for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = forbidden_reason(embedded)
            if inner is not None:
                return f"{inner} (IPv4 {embedded} inside IPv6)"
    checks = [
        (ip in _METADATA, "a cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.version == 4 and ip in _CGNAT, "a carrier-grade NAT (CGNAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private-network address"),
        (not ip.is_global, "a non-public address"),
    ]
    return next((reason for hit, reason in checks if hit), None)


class AddressPolicy:
    """Which hosts and addresses image fetches may connect to."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._networks: list[IPNetwork] = []
        self._hosts: set[str] = set()
        self._suffixes: list[str] = []
        for entry in (e.strip().lower() for e in allow):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError as exc:
                if "/" in entry or entry.replace(".", "").isdigit():
                    raise ValueError(f"fetch_allow entry {entry!r} is not a valid IP address or CIDR network") from exc
            host = entry.rstrip(".")
            if host.startswith(("*.", ".")):
                self._suffixes.append("." + host.lstrip("*."))
            else:
                self._hosts.add(host)

    def host_admitted(self, host: str) -> bool:
        """True when the operator admitted this hostname by name (all its addresses are then allowed)."""
        name = host.lower().rstrip(".")
        return name in self._hosts or any(name.endswith(s) for s in self._suffixes)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is refused, or ``None`` when it is public or in an allowed network."""
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
            candidates.append(embedded)
        if any(c.version == n.version and c in n for c in candidates for n in self._networks):
            return None
        return forbidden_reason(ip)


class BlockedAddress(Exception):
    """Raised inside the HTTP client when policy refuses a connection; the fetcher translates it."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {address}, {reason}")
        self.host, self.address, self.reason = host, address, reason


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to the checked address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from exc
        addresses: list[str] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        if not self._policy.host_admitted(host):
            for address in addresses:
                reason = self._policy.refusal(ipaddress.ip_address(address))
                if reason is not None:
                    raise BlockedAddress(host, address, reason)
        error: Exception = httpcore.ConnectError(f"no address for host {host!r}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(path, path, "a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses the guarded network backend.

    httpx does not take a network backend, so the pool it builds is replaced
    (unopened, it holds no resources) by one that does.
    """

    def __init__(self, policy: AddressPolicy, *, max_connections: int = 64) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=16,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(policy),
        )


class Fetcher:
    """Downloads image URLs under the SSRF policy and limits of ``settings``; one shared client."""

    def __init__(self, settings: Settings) -> None:
        self._max_bytes = settings.max_image_bytes
        self._max_redirects = settings.fetch_max_redirects
        self._total_timeout = settings.fetch_timeout
        self.policy = AddressPolicy(settings.fetch_allow)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(self.policy),
            timeout=httpx.Timeout(settings.fetch_timeout, connect=settings.fetch_connect_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={
                "user-agent": USER_AGENT,
                "accept": "image/jpeg, image/png, */*;q=0.5",
                "accept-encoding": "identity",
            },
        )

    async def aclose(self) -> None:
        """Close the shared connection pool."""
        await self._client.aclose()

    async def fetch(self, url: str, *, index: int | None = None) -> bytes:
        """The bytes at ``url`` (http/https), following at most ``fetch_max_redirects`` redirects.

        Raises ``ForbiddenImageURL`` for a refused scheme or address,
        ``ImageTooLarge`` over ``max_image_bytes`` and ``ImageFetchError`` for
        remote errors, timeouts and broken bodies; each names the URL's host.
        """
        host = _host_of(url)
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._follow(url, index)
        except TimeoutError as exc:
            raise ImageFetchError(
                f"fetching the image from {host} took longer than {self._total_timeout:g} s. "
                "Use a faster host or send the image as a data URL.",
                index=index,
            ) from exc

    async def _follow(self, url: str, index: int | None) -> bytes:
        current = url
        for _hop in range(self._max_redirects + 1):
            target = _parse(current, index, redirected=current != url)
            host = target.host
            try:
                response = await self._client.send(self._client.build_request("GET", target), stream=True)
            except BlockedAddress as exc:
                where = exc.address if exc.host.strip("[]") == exc.address else f"{exc.host} ({exc.address})"
                raise ForbiddenImageURL(
                    f"the image URL's host {where} is {exc.reason}; "
                    "oculi does not fetch from such addresses. Use a public URL or send the image as a data URL "
                    "(operators can admit hosts with --fetch-allow).",
                    index=index,
                    param="image_url",
                ) from exc
            except httpx.TimeoutException as exc:
                raise ImageFetchError(f"connecting to {host} timed out ({type(exc).__name__}).", index=index) from exc
            except httpx.HTTPError as exc:
                raise ImageFetchError(
                    f"could not fetch the image from {host}: {public_reason(exc)}.", index=index
                ) from exc
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    try:
                        current = str(response.url.join(response.headers["location"]))
                    except (httpx.InvalidURL, UnicodeError) as exc:
                        raise ImageFetchError(
                            f"the image host {host} redirected to an invalid URL ({public_reason(exc)}).", index=index
                        ) from exc
                    continue
                if response.status_code >= 400:
                    raise ImageFetchError(
                        f"the image host {host} answered HTTP {response.status_code} "
                        f"{response.reason_phrase}. Check that the URL is public and correct.",
                        index=index,
                    )
                if response.status_code != 200:
                    raise ImageFetchError(
                        f"the image host {host} answered HTTP {response.status_code} instead of the image.",
                        index=index,
                    )
                return await self._read_body(response, host, index)
            finally:
                await response.aclose()
        raise ImageFetchError(
            f"the image URL redirected more than {self._max_redirects} times (last host {_host_of(current)}).",
            index=index,
        )

    async def _read_body(self, response: httpx.Response, host: str, index: int | None) -> bytes:
        declared: int | None = None
        if "content-length" in response.headers:
            try:
                declared = int(response.headers["content-length"])
            except ValueError as exc:
                raise ImageFetchError(f"the image host {host} sent an invalid Content-Length.", index=index) from exc
            if declared > self._max_bytes:
                raise ImageTooLarge(
                    f"the image at {host} is {declared} bytes, over the "
                    f"{describe_bytes(self._max_bytes)} limit. Send a smaller image.",
                    index=index,
                )
        chunks: list[bytes] = []
        received = 0
        try:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > self._max_bytes:
                    raise ImageTooLarge(
                        f"the image at {host} is over the {describe_bytes(self._max_bytes)} limit "
                        "(stopped reading at the limit). Send a smaller image.",
                        index=index,
                    )
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise ImageFetchError(f"reading the image from {host} timed out.", index=index) from exc
        except httpx.HTTPError as exc:
            expected = f" of the {declared} bytes announced" if declared is not None else ""
            raise ImageFetchError(
                f"the image host {host} broke off the download after {received} bytes{expected} "
                f"({public_reason(exc)}).",
                index=index,
            ) from exc
        return b"".join(chunks)


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or "(no host)"
    except (httpx.InvalidURL, TypeError):
        return "(invalid URL)"


def _parse(url: str, index: int | None, *, redirected: bool) -> httpx.URL:
    where = "redirect target" if redirected else "image URL"
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ForbiddenImageURL(
            f"the {where} {url[:100]!r} is not a valid URL ({public_reason(exc)}).", index=index
        ) from exc
    if target.scheme not in ("http", "https"):
        raise ForbiddenImageURL(
            f"the {where} uses the '{target.scheme or '(none)'}:' scheme; only http(s) URLs and "
            "data:image/...;base64 URLs are accepted.",
            index=index,
            param="image_url",
        )
    if not target.host:
        raise ForbiddenImageURL(f"the {where} {url[:100]!r} has no host.", index=index, param="image_url")
    return target


__all__: Sequence[str] = ["USER_AGENT", "AddressPolicy", "BlockedAddress", "Fetcher", "forbidden_reason"]
