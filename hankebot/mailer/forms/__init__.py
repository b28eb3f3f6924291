"""Readers of the procurement's forms: cost form (price), offer form (bidder, parts, texts)."""
from hankebot.mailer.forms.cost_form import read_cost_form
from hankebot.mailer.forms.offer_form import OfferReading, read_offer_form
from hankebot.mailer.forms.recognize import missing_forms, recognize_form

__all__ = ["OfferReading", "missing_forms", "read_cost_form", "read_offer_form", "recognize_form"]
