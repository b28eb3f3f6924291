"""The email package's EmailMessage with its header reads indexed, for the messages Hankebot parses.

`Message.get` walks every header of the part, lower-casing each name, and parses the value it finds; every
`get_content_type`, `get_param`, `get_filename` and `get_payload` makes one or more such reads, and
`get_payload(decode=True)` decodes the body again. Reading one inbound message (our own reading, then
flufl.bounce's seventeen detectors over a machine-looking one) makes about a hundred such reads a part.
IndexedMessage answers them from an index of the part's headers by lower-case name, the header value the
policy made on its first read, the Content-Type/Content-Disposition parameters split once, and the decoded
body remembered: each a pure function of the part's headers and payload, which a parsed inbound message
never changes. Any change to them (a header set, deleted or replaced, a new payload) drops what was
remembered, so a changed part reads as the package reads it.
"""
from __future__ import annotations

from email.message import EmailMessage

_MISSING = object()
_CONTENT_TYPE = object()  # the key of the remembered content type among the remembered parameters


def raw_values(msg, name: str) -> list:
    """The raw (unparsed) values of every `name` header of a part, in order: what
    `[v for k, v in msg.raw_items() if k.lower() == name.lower()]` gives, from the index for an
    IndexedMessage."""
    if isinstance(msg, IndexedMessage):
        index = msg._index()
        return [index[0][pos][1] for pos in index[2].get(name.lower(), ())]
    lname = name.lower()
    return [v for k, v in msg.raw_items() if k.lower() == lname]


class IndexedMessage(EmailMessage):
    _hb_index = None  # (the _headers list indexed, its length, lower-case name -> positions, position -> value)
    _hb_params = None  # header name -> its parameters as _get_params_preserve gives them; the content type
    _hb_kept = None  # (the payload with the marker, the marker, the body kept out): see keep_out
    _hb_payload = None  # (the payload object read, the header index it was read with, decode -> body)

    def _index(self):
        headers = self._headers
        index = self._hb_index
        if index is None or index[0] is not headers or index[1] != len(headers):
            by_name: dict[str, list[int]] = {}
            for pos, (key, _value) in enumerate(headers):
                by_name.setdefault(key.lower(), []).append(pos)
            index = self._hb_index = (headers, len(headers), by_name, {})
            self._hb_params = {}
        return index

    def _fetched(self, index, pos: int):
        made = index[3].get(pos, _MISSING)
        if made is _MISSING:
            key, value = index[0][pos]
            made = index[3][pos] = self.policy.header_fetch_parse(key, value)
        return made

    def get(self, name, failobj=None):
        index = self._index()
        found = index[2].get(name.lower())
        return failobj if found is None else self._fetched(index, found[0])

    def get_all(self, name, failobj=None):
        index = self._index()
        found = index[2].get(name.lower())
        if found is None:
            return failobj
        return [self._fetched(index, pos) for pos in found]

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return name.lower() in self._index()[2]

    def get_content_type(self):
        index = self._index()
        found = index[2].get("content-type")
        if found is None:
            return self.get_default_type()  # (a part's default type can change: not remembered)
        ctype = self._hb_params.get(_CONTENT_TYPE, _MISSING)
        if ctype is _MISSING:
            ctype = self._hb_params[_CONTENT_TYPE] = super().get_content_type()
        return ctype

    def replace_header(self, _name, _value):
        self._hb_index = None  # the one change made in place (same list, same length)
        super().replace_header(_name, _value)

    def _get_params_preserve(self, failobj, header):
        self._index()  # a changed header list drops the remembered parameters
        params = self._hb_params.get(header, _MISSING)
        if params is _MISSING:
            params = self._hb_params[header] = super()._get_params_preserve(_MISSING, header)
        return failobj if params is _MISSING else list(params)

    def keep_out(self, marker: str, body) -> None:
        """mime.py parsed this part with `marker` in place of its base64 body `body` (a Base64Body over the
        raw message): the payload is then read as the email package would have read the original."""
        self._hb_kept = (self._payload, marker, body)
        self._hb_payload = None  # a read of the marker's payload before this is not the part's payload

    def _kept(self):
        """The body kept out of this part, while its payload is still the one with the marker."""
        kept = self._hb_kept
        return kept[2] if kept is not None and kept[0] is self._payload else None

    def get_payload(self, i=None, decode=False):
        if i is not None or self.is_multipart():
            return super().get_payload(i, decode)
        index = self._index()  # the body read depends on Content-Transfer-Encoding and the charset
        memo = self._hb_payload
        if memo is None or memo[0] is not self._payload or memo[1] is not index:
            memo = self._hb_payload = (self._payload, index, {})
        got = memo[2].get(decode, _MISSING)
        if got is _MISSING:
            body = self._kept()
            if body is not None and decode and str(self.get("content-transfer-encoding", "")).lower() == "base64":
                got = body.decode()  # the package's decoding of this valid base64, without the text copy
            else:
                if body is not None:  # the payload the package would have: the marker's line is the body's text
                    payload, marker, _ = self._hb_kept
                    self._payload = payload.replace(marker, body.text(), 1)
                    memo = self._hb_payload = (self._payload, index, {})
                got = super().get_payload(None, decode)
            memo[2][decode] = got
        return got
