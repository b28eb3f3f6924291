"""Service errors as the expert reads them: Estonian, never an exception's English text or internal key.
Our own refusals (ValueError from service/ and core/) are written in Estonian and shown as they are; other
exceptions get a plain Estonian sentence by kind (and are logged by the caller)."""
from __future__ import annotations

from hankebot.bot.texts import clip, esc
import re

from hankebot.core.lifecycle import LifecycleError, state_et

GENERIC = "teenuse viga (see on logitud); proovi uuesti või vaata /status"


def et_error(e: BaseException) -> str:
    """HTML-escaped Estonian reason for a failed service call."""
    if isinstance(e, LifecycleError):
        return lifecycle_et(str(e))
    if isinstance(e, KeyError):
        return "seda kirjet pole (võib-olla asendatud või kustutatud)"
    if isinstance(e, (ConnectionError, TimeoutError)):
        return "ühendus ebaõnnestus; proovi hiljem uuesti"
    if isinstance(e, OSError):
        return "faili või andmebaasi toiming ebaõnnestus; proovi uuesti"
    if isinstance(e, ValueError) and str(e).strip():
        return esc(clip(str(e), 500))
    return GENERIC


_LIFECYCLE = [
    (re.compile(r"deadline has already passed"), "tähtaeg on juba möödas"),
    (re.compile(r"has not passed yet"), "tähtaeg pole veel möödas"),
    (re.compile(r"must be later than the current one"), "uus tähtaeg peab olema praegusest hilisem"),
    (re.compile(r"must be in the future"), "uus tähtaeg peab olema tulevikus"),
    (re.compile(r"lack grades or decisions"), "mõnel pakkumusel puudub veel hinne või otsus"),
]
_STATE = re.compile(r"procurement that is (\w+)")


def lifecycle_et(message: str) -> str:
    """core.lifecycle's refusals (English, for logs) in Estonian."""
    for pat, et in _LIFECYCLE:
        if pat.search(message):
            return et
    m = _STATE.search(message)
    if m:
        return f"hange on olekus „{esc(state_et(m.group(1)))}“ ja see toiming pole praegu lubatud"
    return "hanke praegune olek seda ei luba (vaata /status)"
