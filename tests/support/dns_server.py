"""A small authoritative DNS server for tests, built on dnspython, on loopback only.

It answers UDP and TCP on one port of 127.0.0.1 (or ::1) from a background thread, from
records that tests set in-process (``add_a``, ``add_aaaa``, ``add_txt``, ``add_cname``,
``remove_txt``, ``remove``). It behaves like the recursive resolver a validator points at:
every answer has AA set, CNAME chains inside its data are followed into the answer, unknown
names get NXDOMAIN and known names without the asked type get an empty NOERROR; both
carry the zone's SOA in the authority section. Each configured zone (default ``test.``)
has an SOA and an NS record at its apex so that clients that look for the zone cut (lego,
certbot's rfc2136 plugin) find it.

Publishing records from another process (lego ``--dns exec``, certbot manual hooks) uses
standard RFC 2136 DNS UPDATE messages sent to the server itself, without TSIG. Either

    python -m tests.support.dns_server present _acme-challenge.www.test. VALUE --server HOST:PORT
    python -m tests.support.dns_server cleanup _acme-challenge.www.test. [VALUE] --server HOST:PORT

(from the repository root; the file also runs as a plain script, ``python
tests/support/dns_server.py ...``, since it imports only dnspython), with ``--server``
defaulting to the ``STEPUI_TEST_DNS`` environment variable (``HOST:PORT``); the argument
order is exactly lego's exec provider's (``EXEC_PATH present|cleanup FQDN VALUE``). Or let
the client speak RFC 2136 itself: lego's ``rfc2136`` provider with
``RFC2136_NAMESERVER=127.0.0.1:PORT`` and no TSIG settings. UPDATE adds (class IN),
deletes an RRset (class ANY) or one record (class NONE); prerequisites are ignored.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import threading
from collections.abc import Iterable
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.update

TTL = 1
MAX_CNAME_CHAIN = 8
UDP_LIMIT = 512


def _name(text: str | dns.name.Name) -> dns.name.Name:
    """Absolute names whatever the caller wrote: 'www.test' and 'www.test.' are one name."""
    return text if isinstance(text, dns.name.Name) else dns.name.from_text(text)


def _txt(value: str) -> dns.rdata.Rdata:
    """A TXT record holding ``value``, split into 255-byte strings as the wire format needs."""
    data = value.encode("utf-8")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


class DNSServer:
    """Authoritative test DNS server; use as a context manager or call start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, zones: Iterable[str] = ("test.",)):
        self.host = host
        self.port = port
        self.zones = [_name(zone) for zone in zones]
        self._records: dict[tuple[dns.name.Name, int], list[dns.rdata.Rdata]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        for zone in self.zones:
            self._add_apex(zone)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to give a resolver, e.g. ``ValidationSettings(resolver=...)``."""
        return self.host, self.port

    # --- records -------------------------------------------------------------------------

    def add(self, name: str, rdtype: str, rdata_text: str) -> None:
        """Add one record given in zone-file text, e.g. ``add("www.test", "A", "127.0.0.1")``."""
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, rdata_text)
        self._add_rdata(_name(name), rdata)

    def add_a(self, name: str, ip: str) -> None:
        self.add(name, "A", ip)

    def add_aaaa(self, name: str, ip: str) -> None:
        self.add(name, "AAAA", ip)

    def add_cname(self, name: str, target: str) -> None:
        self.add(name, "CNAME", _name(target).to_text())

    def add_txt(self, name: str, value: str) -> None:
        self._add_rdata(_name(name), _txt(value))

    def remove_txt(self, name: str, value: str | None = None) -> None:
        """Remove one TXT value at ``name``, or all of them when ``value`` is None."""
        self._remove_rdata(_name(name), dns.rdatatype.TXT, None if value is None else _txt(value))

    def remove(self, name: str, rdtype: str | None = None) -> None:
        """Remove the ``rdtype`` records at ``name``, or every record there when None."""
        key_name = _name(name)
        with self._lock:
            for key in list(self._records):
                if key[0] == key_name and (
                    rdtype is None or key[1] == dns.rdatatype.from_text(rdtype)
                ):
                    del self._records[key]

    def _add_apex(self, zone: dns.name.Name) -> None:
        nameserver = dns.name.from_text("ns", zone)
        soa = f"{nameserver} hostmaster.{zone} 1 3600 600 86400 {TTL}"
        self.add(zone.to_text(), "SOA", soa)
        self.add(zone.to_text(), "NS", nameserver.to_text())
        self.add(nameserver.to_text(), "AAAA" if ":" in self.host else "A", self.host)

    def _add_rdata(self, name: dns.name.Name, rdata: dns.rdata.Rdata) -> None:
        with self._lock:
            existing = self._records.setdefault((name, rdata.rdtype), [])
            if rdata not in existing:
                existing.append(rdata)

    def _remove_rdata(
        self, name: dns.name.Name, rdtype: int, rdata: dns.rdata.Rdata | None
    ) -> None:
        with self._lock:
            existing = self._records.get((name, rdtype), [])
            kept = [] if rdata is None else [item for item in existing if item != rdata]
            if kept:
                self._records[(name, rdtype)] = kept
            else:
                self._records.pop((name, rdtype), None)

    # --- answering -----------------------------------------------------------------------

    def handle(self, wire: bytes, over_udp: bool) -> bytes | None:
        """Answer one DNS message; over UDP, truncate to what the client can take."""
        try:
            message = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(message)
        response.flags |= dns.flags.AA | dns.flags.RA
        if message.opcode() == dns.opcode.UPDATE:
            self._apply_update(message)
        elif message.opcode() != dns.opcode.QUERY or len(message.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP)
        else:
            self._answer(message.question[0], response)
        return self._to_wire(message, response, over_udp)

    def _to_wire(
        self, query: dns.message.Message, response: dns.message.Message, over_udp: bool
    ) -> bytes:
        if not over_udp:
            return response.to_wire()
        size = max(UDP_LIMIT, query.payload if query.edns >= 0 else UDP_LIMIT)
        try:
            return response.to_wire(max_size=size)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()

    def _answer(self, question: dns.rrset.RRset, response: dns.message.Message) -> None:
        name, rdtype = question.name, question.rdtype
        with self._lock:
            for _ in range(MAX_CNAME_CHAIN):
                cname = self._records.get((name, dns.rdatatype.CNAME))
                if not cname or rdtype == dns.rdatatype.CNAME:
                    break
                response.answer.append(self._rrset(name, cname))
                name = cname[0].target
            records = self._records.get((name, rdtype))
            if records:
                response.answer.append(self._rrset(name, records))
                return
            if not self._exists(name):
                response.set_rcode(dns.rcode.NXDOMAIN)
            soa = self._zone_soa(name)
            if soa is not None:
                response.authority.append(soa)

    def _exists(self, name: dns.name.Name) -> bool:
        """A name exists if it owns records or is an empty non-terminal above some."""
        return any(owner.is_subdomain(name) for owner, _ in self._records)

    def _zone_soa(self, name: dns.name.Name) -> dns.rrset.RRset | None:
        zones = [zone for zone in self.zones if name.is_subdomain(zone)]
        if not zones:
            return None
        zone = max(zones, key=len)
        return self._rrset(zone, self._records.get((zone, dns.rdatatype.SOA), []))

    @staticmethod
    def _rrset(name: dns.name.Name, rdatas: list[dns.rdata.Rdata]) -> dns.rrset.RRset:
        return dns.rrset.from_rdata_list(name, TTL, rdatas)

    def _apply_update(self, message: dns.message.Message) -> None:
        for rrset in message.sections[dns.update.UpdateSection.UPDATE]:
            if rrset.deleting is None:
                for rdata in rrset:
                    self._add_rdata(rrset.name, rdata)
            elif rrset.deleting == dns.rdataclass.NONE:
                for rdata in rrset:
                    self._remove_rdata(rrset.name, rrset.rdtype, rdata)
            elif rrset.rdtype == dns.rdatatype.ANY:
                self.remove(rrset.name.to_text())
            else:
                self._remove_rdata(rrset.name, rrset.rdtype, None)

    # --- sockets -------------------------------------------------------------------------

    def start(self) -> DNSServer:
        """Bind UDP and TCP on the same port (a free one when port is 0) and serve."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, self.port))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                if self.port:
                    raise
                continue
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        tcp.listen(16)
        udp.settimeout(0.2)
        tcp.settimeout(0.2)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._serve_udp, name="test-dns-udp", daemon=True),
            threading.Thread(target=self._serve_tcp, name="test-dns-tcp", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._threads = []

    def __enter__(self) -> DNSServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while not self._stopping.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = self.handle(wire, over_udp=True)
            if answer is not None:
                self._udp.sendto(answer, peer)

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()

    def _serve_connection(self, connection: socket.socket) -> None:
        """RFC 7766: length-prefixed messages, several per connection."""
        connection.settimeout(5)
        with connection:
            try:
                while True:
                    header = _recv_exactly(connection, 2)
                    wire = _recv_exactly(connection, struct.unpack("!H", header)[0])
                    answer = self.handle(wire, over_udp=False)
                    if answer is None:
                        return
                    connection.sendall(struct.pack("!H", len(answer)) + answer)
            except (OSError, EOFError):
                return


def _recv_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


# --- control from other processes -------------------------------------------------------


def send_update(server: tuple[str, int], action: str, fqdn: str, value: str | None) -> None:
    """Publish (``present``) or withdraw (``cleanup``) a TXT record with an RFC 2136 UPDATE."""
    name = _name(fqdn)
    update = dns.update.UpdateMessage(name.parent() if len(name) > 1 else name)
    if action == "present":
        if value is None:
            raise ValueError("present needs a value")
        update.add(name, TTL, _txt(value))
    elif value is None:
        update.delete(name, dns.rdatatype.TXT)
    else:
        update.delete(name, _txt(value))
    response = dns.query.tcp(update, server[0], port=server[1], timeout=5)
    if response.rcode() != dns.rcode.NOERROR:
        raise RuntimeError(f"DNS UPDATE refused: {dns.rcode.to_text(response.rcode())}")


def _parse_server(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


_OPTIONS = ("-h", "--help", "--server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Publish TXT records on the test DNS server.")
    parser.add_argument("action", choices=("present", "cleanup"))
    parser.add_argument("fqdn")
    parser.add_argument("value", nargs="?")
    parser.add_argument("--server", default=os.environ.get("STEPUI_TEST_DNS"), help="HOST:PORT")
    # A dns-01 value is base64url and may start with "-": take the options out wherever they
    # stand, then read what is left as positional arguments only.
    rest = list(sys.argv[1:] if argv is None else argv)
    options: list[str] = []
    while True:
        at = next(
            (i for i, a in enumerate(rest) if a in _OPTIONS or a.startswith("--server=")), None
        )
        if at is None:
            break
        width = 2 if rest[at] == "--server" else 1
        options += rest[at : at + width]
        del rest[at : at + width]
    args = parser.parse_args([*options, "--", *rest])
    if not args.server:
        parser.error("--server HOST:PORT or STEPUI_TEST_DNS is required")
    send_update(_parse_server(args.server), args.action, args.fqdn, args.value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
