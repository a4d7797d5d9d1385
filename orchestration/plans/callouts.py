"""Where a callout step may send its request (``docs/plans.md``, *Where callouts may go*).

A callout's URL is written by a fulfilment designer and requested by the worker,
inside the network the suite runs in. Two kinds of address are never a downstream
system and are refused:

- **link-local** addresses (``169.254.0.0/16``, ``fe80::/10``), where cloud
  metadata services answer (``169.254.169.254`` hands out the machine's
  credentials), and the metadata services' own names and addresses elsewhere
  (``metadata.google.internal``, AWS's ``fd00:ec2::254``, Alibaba's
  ``100.100.100.200``);
- **unspecified** (``0.0.0.0``, ``::``) and **multicast** addresses.

Loopback and private addresses stay allowed: a carrier's gateway on the
retailer's own network is a private address, and a sidecar may listen on
loopback.

The rule is checked twice: when a step is saved (a literal address or a known
name in the URL: ``callout_url_problem``), and by the worker on the address it
actually connected to, after DNS (``address_problem``), so a name that resolves to
a refused address, or a redirect, reaches nothing: callouts follow no redirects.
Pure Python: the service and the HTTP client both use it.
"""

import ipaddress
from urllib.parse import urlsplit

# Names of cloud metadata services (lower case, no trailing dot).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Metadata services outside the link-local ranges.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


def address_problem(address: str) -> str | None:
    """Why a callout may not go to the IP ``address``, as ``"<ip>: it is ..."``, or
    None when it may, or when ``address`` is no IP address at all (a name)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        what = "a cloud metadata service"
    elif ip.is_link_local:
        what = "a link-local address, where cloud metadata services answer"
    elif ip.is_unspecified:
        what = "the unspecified address"
    elif ip.is_multicast:
        what = "a multicast address"
    else:
        return None
    return f"{ip}: it is {what}"


def callout_url_problem(url: str) -> str | None:
    """Why a callout step may not have ``url`` (checked when it is saved), or None."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "it is not a URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "a callout is an http:// or https:// URL"
    if host in METADATA_HOSTS:
        return f"callouts may not go to {host}: it is a cloud metadata service"
    problem = address_problem(host)
    return f"callouts may not go to {problem}" if problem else None
