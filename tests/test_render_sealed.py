"""Problem texts rendered while sealed name what is wrong without the amount; after the opening the detail."""
import re

from hankebot.bot.render import problem_lines
from hankebot.core.events import ProblemFact

PRICE = re.compile(r"123[\s\u00a0\u202f]?456([.,]78)?")

PROBLEMS = (
    ProblemFact("implausible_price", "Maksumuse vormi hind 123 456,78 € on suurem kui oodatav ülempiir 100 000,00 €."),
    ProblemFact("implausible_price", "Maksumuse vormi hind 123\u00a0456,78 € on väiksem kui oodatav alampiir."),
    ProblemFact("ambiguous_price", "Täidetud on mõlemad lehed: 123456.78 ja 123456,78."),
    ProblemFact("price_needs_manual_entry", "Hind on kirjutatud tekstina: „123456 eurot“."),
)


def test_sealed_problem_lines_carry_no_price_and_opened_ones_do():
    sealed = problem_lines(PROBLEMS, sealed=True)
    assert len(sealed) == len(PROBLEMS) and all(sealed)
    assert [x for x in sealed if PRICE.search(x)] == []
    opened = problem_lines(PROBLEMS, sealed=False)
    assert all(PRICE.search(x) for x in opened)
