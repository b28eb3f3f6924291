"""signxml's XAdES verification without parsing the signature document again and again.

signxml's XMLVerifier parses the document it is given, although we have just parsed the same bytes
with the same parser options, and then, for every ds:Reference, copies the whole document
(serialise and parse again) so that an enveloped-signature transform can cut the signature out of
the copy. verify_xades gives signxml our tree instead of a parse of its own, and for a reference
without the enveloped-signature transform (a container's data file; SignedProperties with its c14n
transform) reads the node from that tree, since nothing is cut out of it. signxml never changes the
tree it reads: it only looks nodes up and serialises them, and a node serialises the same from the
document as from its copy. Everything else (the schema, the signature value, the digests, the
signing certificate digest, the error raised for each fault) is signxml's own code.

That reading is of signxml's code as it is in the version listed in _CHECKED (the SHA-256 of the
source of each method relied on); with any other code, verify_xades calls signxml's own
XAdESVerifier on the bytes.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
from base64 import b64decode
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml import InvalidDigest, InvalidInput
from signxml.algorithms import DigestAlgorithm, SignatureConstructionMethod
from signxml.verifier import VerifyResult, XMLVerifier
from signxml.xades import XAdESVerifier

_CHECKED = {  # signxml 5.2.0
    (XMLVerifier, "verify"): "02d4109c0f870961cc2d4399bc7faa761c257359d08b83bdfb14d41c27363508",
    (XAdESVerifier, "verify"): "a9979d5819a4e3f049e025c523e646a19876bd2734851a5e4f98d0210eac4fe6",
    (XMLVerifier, "get_root"): "0ce5bb3ecad99bdde8e3d58cf0a3fb1449597e28e0e6c0b71a1e044ed39b6eef",
    (XMLVerifier, "_verify_reference"): "774688a92ddb5b982a4ce94627bb81fc7b1edf4877c5bea0da77e1f597c678c4",
    (XMLVerifier, "_apply_transforms"): "31c5ba16da890501b29404989c54fdb0355d6edbb1974e35f7b5a49e95d2af0e",
    (XMLVerifier, "_resolve_reference"): "e30ab66669a4c3598b62d02f4433c7628674378611b178fe09fbd633f6b57c9e",
    (XMLVerifier, "_get_signature"): "4af361189e07da0f6a07add4a839a151ace920da3ab1c113c32afe30e9f8e3cc",
    (XMLVerifier, "_fromstring"): "951a308a3921bd2397c2902a1aac3847e0ac805b0e4b06a52a7022e1d2de91c5",
    (XMLVerifier, "_tostring"): "d57b22d2198bbea9b16d473116479b9d2c150e0fcdccedb928007ef3dbe89cfe",
}
_ENVELOPED = SignatureConstructionMethod.enveloped.value


def source_digest(cls: type, name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(cls, name)).encode()).hexdigest()


@functools.cache
def signxml_as_read() -> bool:
    """signxml's methods are the ones this module was written against, and XAdESVerifier inherits
    the XMLVerifier ones it does not have in _CHECKED."""
    try:
        own = {n for cls, n in _CHECKED if cls is XAdESVerifier}
        return all(source_digest(cls, n) == d and (cls is XAdESVerifier or n in own or n not in XAdESVerifier.__dict__)
                   for (cls, n), d in _CHECKED.items())
    except (OSError, TypeError):
        return False


@dataclass(frozen=True)
class Parsed:
    data: bytes
    root: etree._Element  # data parsed with signxml's parser options


class SharedTreeVerifier(XAdESVerifier):
    def get_root(self, data):
        if not isinstance(data, Parsed):
            return super().get_root(data)
        # signxml's _fromstring on the same bytes, after the parse (which gave this tree)
        docinfo = etree.ElementTree(data.root).docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise InvalidInput("DTD declarations are not supported in XML input")
        for _entity in data.root.iter(etree.Entity):
            raise InvalidInput("Entities are not supported in XML input")
        return data.root

    def _verify_reference(self, reference, index, root, uri_resolver, c14n_algorithm, signature,
                          signature_key_used):
        transforms = self._find(reference, "Transforms", require=False)
        if transforms is not None and any(t.get("Algorithm") == _ENVELOPED for t in self._findall(transforms, "Transform")):
            return super()._verify_reference(reference, index, root, uri_resolver, c14n_algorithm, signature,
                                             signature_key_used)
        # signxml's steps, reading the node from the document rather than from a copy of it
        digest_method_alg_name = self._find(reference, "DigestMethod").get("Algorithm")
        digest_value = self._find(reference, "DigestValue")
        payload = self._resolve_reference(root, reference, uri_resolver=uri_resolver)
        payload_c14n = self._apply_transforms(payload, transforms_node=transforms, signature=None)
        digest_alg = DigestAlgorithm(digest_method_alg_name)
        self.check_digest_alg_expected(digest_alg)

        if b64decode(digest_value.text) != self._get_digest(payload_c14n, digest_alg):
            raise InvalidDigest(f"Digest mismatch for reference {index} ({reference.get('URI')})")
        try:
            payload_c14n_xml = self._fromstring(payload_c14n)
        except etree.XMLSyntaxError:
            payload_c14n_xml = None

        if isinstance(signature_key_used, bytes):
            signature_key = signature_key_used
        else:
            signature_key = signature_key_used.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return VerifyResult(payload_c14n, payload_c14n_xml, signature, signature_key=signature_key)


def verify_xades(data: bytes, root: etree._Element, **kwargs):
    """XAdESVerifier().verify(data, **kwargs). `root` is `data` parsed with the options signxml parses
    with (resolve_entities=False, lxml's defaults for the rest: no DTD loaded, no network, no huge
    trees), as signatures._parse_xml does; nothing may change it."""
    if signxml_as_read() and "parser" not in kwargs:
        return SharedTreeVerifier().verify(Parsed(data, root), **kwargs)
    return XAdESVerifier().verify(data, **kwargs)
