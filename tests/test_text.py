"""text.py's one normaliser chain and one spelling corrector."""
from assistant.text import Speller, ascii_text, edit_distance, fold_ascii, normalise, plain_words


def test_normaliser_chain():
    raw = "Call 555\u00b7640\u20132281, I can\u2019t br\u200beathe \uff08\u0441hest\uff09"
    assert normalise(raw) == "Call 555-640-2281, I can\u2019t breathe (chest)"
    assert ascii_text(raw) == "Call 555-640-2281, I can't breathe (chest)"
    assert fold_ascii(raw) == "call 555-640-2281, i cant breathe (chest)"
    assert plain_words(raw) == "call 555 640 2281 i cant breathe chest"
    assert ascii_text("plain ASCII\u0020stays") == "plain ASCII stays"


def test_edit_distance():
    assert edit_distance("chokng", "choking", 1) == 1
    assert edit_distance("cohking", "choking", 1) == 1  # neighbours swapped: one edit
    assert edit_distance("abuse", "cause", 1) == 2      # over the limit: limit + 1


def test_checked_speller_takes_the_alphabetically_first_within_the_limit():
    s = Speller(["breath", "breathe", "breathing", "choking"], min_length=4, long_word=7, same_first=True,
                skip=lambda w: w == "checking")
    assert s.correct("chokng") == "choking"
    assert s.correct("breathin") == "breath"    # 8 letters: two edits allowed, "breath" sorts first
    assert s.correct("breth") == "breath"       # 5 letters: one edit
    assert s.correct("checking") == "checking"  # skipped (a real English word)
    assert s.correct("xhoking") == "xhoking"    # another first letter
    assert s.correct("cho") == "cho"            # too short


def test_unchecked_speller_takes_the_first_found():
    s = Speller(["cause", "weight", "right"], min_length=5, checked=False)
    assert s.correct("eight") == "weight"  # the word itself is a key first: "weight" less its "w"
    assert s.correct("abuse") == "cause"   # a letter off each side ("ause"): what retrieval was tuned with
    assert s.correct("rihgt") == "right"   # neighbours swapped
    assert s.correct("rxyht") == "rxyht"   # two letters changed: no deletion in common


def test_acronyms_defined_by_the_initials_of_their_long_form():
    from assistant.text import defined_acronyms
    text = ("A clot in a deep vein (deep vein thrombosis (DVT)) can travel. Creutzfeldt-Jakob disease (CJD) is rare. "
            "Tuberculosis (TB) spreads. The Centers for Disease Control and Prevention (CDC) and the National Institute "
            "of Neurological Disorders and Stroke (NINDS). (XYZ) alone. See platelet rich plasma (PRPs).")
    assert defined_acronyms(text) == {"dvt": "deep vein thrombosis", "cjd": "creutzfeldt jakob disease",
                                      "ninds": "national institute of neurological disorders and stroke",
                                      "prp": "platelet rich plasma"}
    assert defined_acronyms("no acronyms here") == {}


def test_an_acronym_names_an_article_when_its_long_form_holds_the_title():
    from types import SimpleNamespace as NS

    from assistant.engine import title_acronyms
    chunks = [NS(text="Blood clots in a deep vein (deep vein thrombosis (DVT)) and low density lipoproteins (LDL)."),
              NS(text="Attention deficit disorder (ADD) and platelet rich plasma (PRP)."), NS(text="No definitions.")]
    titles = ["Deep Vein Thrombosis", "Attention Deficit Disorder", "Prolotherapy"]
    # LDL's and PRP's long forms hold no title; ADD is a common word
    assert title_acronyms(titles, chunks, lambda w: True) == {"dvt"}
