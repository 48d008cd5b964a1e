"""DHuS OpenSearch Atom XML, laid out as DHuS's XSLT wrote it, and the description document.

Written as text rather than through an XML library on purpose: scripts such as dhusget read
this feed line by line (``grep '<link rel="alternative" href='``), so the layout must be exact:
one element per line, two-space indentation, attributes in DHuS's order, double quotes.
Every value is escaped, and characters XML cannot carry are dropped.
"""

from __future__ import annotations

import re

from eohub.protocols.dhus.entry import Entry
from eohub.protocols.dhus.opensearch import ATOM_NS, MAX_ROWS, OPENSEARCH_NS, Feed

_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
_FEED_OPEN = f'<feed xmlns="{ATOM_NS}" xmlns:opensearch="{OPENSEARCH_NS}">'


def _text(value: str) -> str:
    value = _INVALID_XML.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")


def _entry(entry: Entry, out: list[str]) -> None:
    out.append("  <entry>")
    out.append(f"    <title>{_text(entry.title)}</title>")
    for rel, href in entry.links:
        rel_attr = "" if rel is None else f' rel="{_attr(rel)}"'
        out.append(f'    <link{rel_attr} href="{_attr(href)}"/>')
    out.append(f"    <id>{_text(entry.id)}</id>")
    out.append(f"    <summary>{_text(entry.summary)}</summary>")
    out.append(f"    <ondemand>{entry.ondemand}</ondemand>")
    for group, items in entry.groups:
        for name, value in items:
            out.append(f'    <{group} name="{_attr(name)}">{_text(value)}</{group}>')
    out.append("  </entry>")


def render_feed(feed: Feed) -> bytes:
    """The Atom body of a feed."""
    out = [
        _DECLARATION + _FEED_OPEN,
        f"  <title>{_text(feed.title)}</title>",
        f"  <subtitle>{_text(feed.subtitle)}</subtitle>",
        f"  <updated>{_text(feed.updated)}</updated>",
        "  <author>",
        f"    <name>{_text(feed.author)}</name>",
        "  </author>",
        f"  <id>{_text(feed.id)}</id>",
        f"  <opensearch:totalResults>{feed.total}</opensearch:totalResults>",
        f"  <opensearch:startIndex>{feed.start}</opensearch:startIndex>",
        f"  <opensearch:itemsPerPage>{feed.rows}</opensearch:itemsPerPage>",
        f'  <opensearch:Query role="request" searchTerms="{_attr(feed.search_terms)}"'
        ' startPage="1"/>',
    ]
    for rel, kind, href in feed.links:
        out.append(f'  <link rel="{_attr(rel)}" type="{_attr(kind)}" href="{_attr(href)}"/>')
    for entry in feed.entries:
        _entry(entry, out)
    out.append("</feed>\n")
    return "\n".join(out).encode("utf-8")


def render_error(message: str, code: str = "400") -> bytes:
    """DHuS's Atom error feed."""
    lines = [
        _DECLARATION + _FEED_OPEN,
        "  <error>",
        f"    <code>{_text(code)}</code>",
        f"    <message>{_text(message)}</message>",
        "  </error>",
        "</feed>\n",
    ]
    return "\n".join(lines).encode("utf-8")


def render_description(search_url: str, hub_name: str) -> bytes:
    """The OpenSearch description document; ``search_url`` is the absolute ``.../search``."""
    base = _attr(search_url)
    name = _text(hub_name)
    params = "q={searchTerms}&amp;start={startIndex?}&amp;rows={count?}"
    return (
        f'{_DECLARATION}<OpenSearchDescription xmlns="{OPENSEARCH_NS}">\n'
        f"   <ShortName>{name}</ShortName>\n"
        "   <Description>Search Earth-observation products of this hub</Description>\n"
        "   <Tags>data,hub,space,earth,observation,sentinel,copernicus</Tags>\n"
        f'   <Url type="application/atom+xml" template="{base}?{params}'
        '&amp;orderby={custom:orderby?}"/>\n'
        f'   <Url type="application/json" template="{base}?{params}&amp;format=json"/>\n'
        f"   <LongName>{name}</LongName>\n"
        '   <Query role="example" searchTerms="*"/>\n'
        "   <SyndicationRight>open</SyndicationRight>\n"
        "   <AdultContent>false</AdultContent>\n"
        "   <Language>en-us</Language>\n"
        "   <OutputEncoding>UTF-8</OutputEncoding>\n"
        "   <InputEncoding>UTF-8</InputEncoding>\n"
        f"   <!-- rows: at most {MAX_ROWS} -->\n"
        "</OpenSearchDescription>\n"
    ).encode()
