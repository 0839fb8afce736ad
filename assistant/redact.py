"""Redact personal data before anything is stored: names, addresses, ID numbers, emails, phones, dates.

The text is first normalised (text.normalise: NFKC, look-alike letters folded), so full-width or Cyrillic-spelled
identifiers are found like plain ones. Presidio's pattern recognizers find emails, phone numbers (with
the phonenumbers library, many countries), SSNs, card and bank numbers and numeric dates; Presidio
PatternRecognizers configured here add ID numbers after a label (MRN, member ID, policy...), letter-digit
codes, spelled-out emails and digits, dates in words and street addresses; the name recognizer reads
names from ~46k first and last names of many cultures (Faker's lists) in context: after an introduction
("I'm", "this is", "my daughter", "Dr."), before "here", at a sign-off, or capitalised mid-sentence,
while names of conditions (a name before "disease"/"syndrome", MedQuAD's eponyms) are left alone.
The word data is assistant/models/pii_words.json.gz (evals/build_pii_words.py); scores: evals/pii_eval.py.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
import sys
import threading
import unicodedata
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from .language import detect as detect_language
from .text import latin_share, normalise

WORDS_FILE = Path(__file__).resolve().parent / "models" / "pii_words.json.gz"
LABELS = {"NAME": "[name]", "EMAIL_ADDRESS": "[email]", "PHONE_NUMBER": "[phone]", "DATE_TIME": "[date]",
          "ID": "[id]", "LONG_NUMBER": "[id]", "US_SSN": "[id]", "CREDIT_CARD": "[id]", "IBAN_CODE": "[id]",
          "ADDRESS": "[address]", "IP_ADDRESS": "[id]"}
# When spans overlap, the longer wins; on equal length, the earlier of these.
_PRIORITY = ["EMAIL_ADDRESS", "ADDRESS", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "DATE_TIME", "ID", "PHONE_NUMBER",
             "LONG_NUMBER", "IP_ADDRESS", "NAME"]

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
          # Spanish month names (messages in Spanish: "14 de marzo de 1958")
          r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|sept?iembre|octubre|noviembre|diciembre|"
          # and the other western European languages' full names, as relatives abroad write dates
          # ("3 mars 1950", "15. Juli", "21 januari 1988", "12 de outubro"); a month name alone is no date
          r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre|"
          r"januar|februar|m[äa]rz|juni|juli|oktober|dezember|"
          r"januari|februari|maart|mei|augustus|"
          r"gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|"
          r"janeiro|fevereiro|mar[çc]o|maio|junho|julho|setembro|outubro|novembro|dezembro)")
_ORDINAL_WORDS = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
                  r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
                  r"twenty[- ]?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|"
                  r"thirty[- ]?first)")
_SPANISH_DAY = (r"(?:primero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|catorce|quince|"
                r"diecis[eé]is|diecisiete|dieciocho|diecinueve|veinte|veinti\w+|treinta(?: y uno)?)")
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th|º|°|\.(?=\s+[A-Za-zÄäÖöÜü]))?|{_ORDINAL_WORDS}|{_SPANISH_DAY}(?=\s+de\s))"
_YEAR = (r"(?:\d{4}|'\d{2}|\d{2}(?!\d)|nineteen[- ]\w+(?:[- ]\w+)?|two[- ]thousand(?:[- ]and)?(?:[- ]\w+)?|"
         r"twenty[- ]\w+(?:[- ]\w+)?)")
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+(?:the\s+)?)?"
_DIGIT_WORD = (r"(?:zero|oh|o|one|two|three|four|five|six|seven|eight|nine|double|triple|"
               r"cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve)")  # English and Spanish
_NUMBER_WORD = (r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
                r"hundred|thousand)")
_TLD = r"(?:com|net|org|edu|gov|mil|info|biz|io|co|us|uk|ca|au|de|fr|es|it|nl|pl|mx|br|in|ph|ng|vn|cn|jp|kr|me)"
_ID_LABEL = (r"(?:mrn|m\.r\.n\.?|(?:medical\s+)?record(?:\s+(?:number|no\.?|num|#))?|chart(?:\s+(?:number|no\.?|#))?|"
             r"member(?:ship)?(?:\s+(?:id|number|no\.?|#))?|subscriber(?:\s+(?:id|number|#))?|"
             r"policy(?:\s+(?:id|number|no\.?|#))?|group(?:\s+(?:id|number|no\.?|#))?|"
             r"account(?:\s+(?:id|number|no\.?|#))?|acct\.?(?:\s*#)?|claim(?:\s+(?:id|number|no\.?|#))?|"
             r"case(?:\s+(?:id|number|no\.?|#))|patient(?:\s+(?:id|number|no\.?|#))|"
             r"(?:insurance|medicare|medicaid|beneficiary|health\s+plan|plan)(?:\s+(?:card\s+)?(?:id|number|no\.?|#))?|"
             r"mbi|hicn|ssn|social(?:\s+security)?(?:\s+(?:number|no\.?|#))?|"
             r"(?:driver'?s?\s+)?licen[cs]e(?:\s+(?:number|no\.?|#))?|passport(?:\s+(?:number|no\.?|#))?|"
             r"id(?:\s+(?:number|no\.?|#))?|ref(?:erence)?(?:\s+(?:number|no\.?|#))?|confirmation(?:\s+(?:number|#))?|"
             r"no\.|#)")
_STREET = (r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
           r"circle|cir|highway|hwy|parkway|pkwy|trail|trl|square|sq|crescent|plaza|alley|concourse|loop|pike|row)"
           r"(?:\s+(?:[nsew]{1,2}|north|south|east|west)\b)?")
_UNIT = r"(?:,?\s*(?:apt|apartment|unit|suite|ste|room|rm|flat|bldg|building|bus|scala|int|piso|top|#)\.?\s*#?\s*[a-z0-9-]{1,6})"
_ZIP = r"(?:\d{5}(?:-\d{4})?|\d(?: \d){4})(?!\w)"  # dictated: "0 8 8 2 0"
# Postcodes of other countries' standard formats: UK (SW3 4LY), Canada (M5H 2N2), Ireland (D02 X285); the
# 4-digit ones (Australia, much of Europe) only after a state or before a city, where they cannot be a year.
_UK_CA_POSTCODE = r"(?:[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2}|[a-z]\d[a-z]\s?\d[a-z]\d|[a-z]\d{2}\s?[a-z\d]{4})(?!\w)"
_AU_STATE = r"(?:nsw|vic|qld|wa|sa|tas|act|nt)"
# A postcode before its town, after a comma or on the next line, with a short part between ("2. tv.",
# "CS 40012"), and the country on the line after: ", 75002 Paris", "\n1016 GV Amsterdam\nNetherlands".
_TOWN = r"(?-i:[A-ZÀ-Þ][\w'-]+(?:\s+(?:[A-ZÀ-Þ][\w'-]*|am|an|de|la|le|sur|en))*)"
_POSTCODE_TOWN = (rf"(?:(?:,\s*[^,\n]{{1,16}}?){{0,2}}?(?:,\s*|\s*\n\s*)(?:\d{{4,5}}(?:\s?(?-i:[A-Z]{{2}}))?|\d{{2}}-\d{{3}})\s+{_TOWN}"
                  rf"(?:\s*\n\s*(?-i:[A-ZÀ-Þ][\w'-]+))?)")
_CITY_STATE_ZIP = (rf"(?:{_POSTCODE_TOWN}|(?:,?\s+[a-z][a-z.'-]*(?:\s+[a-z][a-z.'-]*){{0,2}}){{1,2}},?\s+(?:{_ZIP}|{_UK_CA_POSTCODE})"
                   rf"|(?:,?\s+[a-z][a-z.'-]*(?:\s+[a-z][a-z.'-]*){{0,2}})?\s+{_AU_STATE}\s+\d{{4}}(?!\w)"
                   rf"|,\s*\d{{5}})")
_POSTCODE_LABEL = r"(?:post\s?code|postal\s+code|zip(?:\s+code)?|pin(?:\s+code)?|c\.\s?p\.|eircode)"

PATTERNS: list[tuple[str, str, str]] = [  # (entity, name, regex); all matched case-insensitively
    ("EMAIL_ADDRESS", "email", r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)+"),  # any ending, typos included (.con)
    ("EMAIL_ADDRESS", "spelled-out email",
     rf"\b[\w.+-]+(?:(?:\s*[\[(]?\s*(?:dot|period|underscore|punto|guion(?:\s+bajo)?|_|-)\s*[\])]?\s*"
     rf"|\s+(?=\d|{_NUMBER_WORD}\b)|(?<=\b[a-z])\s+)[\w+-]+)*\s*"  # dictated: "d park 77", "raman eighty four"
     rf"(?:[\[({{<]\s*(?:at|arroba|@)\s*[\])}}>]|\s(?:at|arroba|@)\s|@)\s*[\w-]+(?:\s*[\[(]?\s*(?:dot|punto|\.)\s*[\])]?\s*[\w-]+)*?"
     rf"\s*[\[(]?\s*(?:dot|punto|\.)\s*[\])]?\s*{_TLD}\b"),
    ("PHONE_NUMBER", "digits with separators",
     r"(?<![\w+])\+?\(?\d(?:[ \t\u00a0().-]{0,3}\d){6,15}(?![\w])"),
    ("PHONE_NUMBER", "spelled-out digits",
     rf"\b(?:plus\s+)?(?:{_DIGIT_WORD}|\d{{1,4}})(?:[\s,.-]+(?:{_DIGIT_WORD}|\d{{1,4}})){{5,}}\b"),
    ("PHONE_NUMBER", "digits with letter o", r"(?<![\w+])(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?[\dOo]{3}[ .-]?[\dOo]{4}(?![\w])"),
    ("DATE_TIME", "numeric date", r"\b(?:\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2})\b"),
    ("ID", "ssn-like", r"\b\d{3}-\d{2}-\d{4}\b"),
    ("DATE_TIME", "month day",
     rf"\b{_WEEKDAY}{_MONTH}\.?\s+(?:the\s+)?{_DAY}\b(?:,?\s+{_YEAR})?"),
    ("DATE_TIME", "day of month",
     rf"\b{_WEEKDAY}(?:the\s+)?{_DAY}\s+(?:of\s+|de\s+)?{_MONTH}\b\.?(?:,?\s+{_YEAR}|,?\s+(?:of\s+|de\s+|del\s+)?(?:\d{{4}}|\d{{2}}(?!\d)))?"),
    ("DATE_TIME", "the nth", rf"\b{_WEEKDAY}(?:on\s+)?the\s+\d{{1,2}}(?:st|nd|rd|th)\b"
                             r"(?!\s+(?:round|time|session|injection|visit|shot|dose|week|day|one|floor|grade|set|try))"),
    ("DATE_TIME", "the nth in words",  # "my appointment on the twelfth"; not "on the second injection"
     rf"(?<=\b(?:on|for|by|until|till|before)\s+)the\s+{_ORDINAL_WORDS}\b"
     r"(?!\s+(?:round|time|session|injection|visit|shot|dose|week|day|one|floor|grade|set|try|of\b|\d))"),
    ("DATE_TIME", "spoken date of birth",  # dictated: "date of birth twelve three sixty five"
     rf"(?<=\b(?:date\s+of\s+birth|dob|d\.o\.b\.?|birthday|birth\s*date|born)\s*(?:is|was|on|:)?\s*)"
     rf"{_NUMBER_WORD}(?:[\s,-]+{_NUMBER_WORD}){{1,6}}\b"),
    ("DATE_TIME", "weekday and numeric date", rf"\b{_WEEKDAY}\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b"),
    ("DATE_TIME", "month and day only",
     r"(?<![\d/.-])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?![\d/.-])(?!\s*(?:mg|ml|tab|pill|dose|cup|of\b))"),
    ("ID", "labelled number",
     rf"(?<=\b{_ID_LABEL}(?:\s*(?:is|was|=|:|#|no\.?|number)?\s*[:#]?\s*))"
     r"(?=[a-z0-9-]*\d)[a-z0-9](?:[a-z0-9]|[ -](?=[a-z0-9]*\d[a-z0-9]*))*[a-z0-9]"),
    ("ID", "letter-digit code",
     r"\b(?=(?:[a-z-]*\d){3})(?=[a-z0-9-]{6})(?=[0-9-]*[a-z])(?![0-9]+x[0-9]+\b)(?![a-z]*\d+(?:mg|mcg|ml|cc|kg|lbs?|mm|cm|iu|hrs?|mins?|am|pm|yo|y/o)\b)"
     r"[a-z0-9]+(?:-[a-z0-9]+)*\b"),
    ("ID", "capitals and digit groups", r"(?-i:\b(?!(?:MRN|SSN|MBI|DOB|ID|NO|ACCT|HICN)\b)[A-Z]{2,4})[ -]?\d(?:[ -]?\d){6,15}\b"),  # XJK 448 201 937
    ("ID", "last digits",  # "SSN ends in 4471", "the last 4 (6621)": not a year
     r"(?<=\b(?:last\s+(?:4|four)|ending|ends)\b[^\n\d]{0,30}?)(?!(?:19\d\d|20[0-3]\d)\b)\d{4}\b"),
    ("ID", "number sign", r"(?<![\w#])#\s?\d{3,}\b"),  # check #2281
    ("LONG_NUMBER", "long number", r"(?<![\w.])\d{6,}(?![\w.])"),
    ("ADDRESS", "street address",
     rf"\b(?:\d{{1,5}}/)?\d{{1,6}}(?:-\d{{1,4}}|\d*\u2044\d)?[a-z]?(?:\s+[nsew]\.?)?(?:\s+[a-z0-9][\w.'-]*){{1,4}}?\s+{_STREET}\b\.?"
     rf"{_UNIT}?{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "street type first",
     rf"\b\d{{1,6}}(?:-\d{{1,4}}|\d*\u2044\d)?[a-z]?(?:\s+bis)?,?\s+(?:calle|avenida|av\.|via|rue|camino|paseo|carrera|rua|jalan|jl\.|"
     rf"avenue|boulevard|chemin|all[ée]e|impasse|quai)"
     rf"(?:\s+[a-z0-9][\w.'-]*){{1,3}}{_UNIT}?{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "street type, name, then number",  # Calle Mayor 25, Av. Paulista 1578, Via Roma 12
     rf"(?-i:\b(?:Calle|Avenida|Avda\.|Av\.|Via|Viale|Corso|Piazza|Rua|Carrera|Paseo|Camino|Jalan|Jl\.|Rue|Avenue|Chemin|"
     rf"Boulevard|Quai))(?:\s+[\w.'-]+){{1,3}}?\s+\d{{1,5}}[a-z]?\b{_UNIT}?{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "street name then number",  # Hauptstrasse 12, Kerkstraat 5, Nørregade 7
     rf"\b[^\W\d_]+(?:strasse|straße|str\.|weg|gasse|platz|allee|damm|straat|laan|gade|vej|gatan|vägen|veien)"
     rf"\s+\d{{1,4}}(?:[/-]\d{{1,4}})?[a-z]?\b{_UNIT}?{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "block-numbered address",  # Japan: 5-12-3 Shibuya, Shibuya-ku, Tokyo 〒150-0002
     r"(?-i:\b\d{1,2}-\d{1,2}(?:-\d{1,3})?\s+[A-Z][a-z]+(?:-[A-Za-z]+)*(?:,\s*[A-Z][a-z]+(?:-[a-z]+)?){0,3})"
     r"(?:\s*〒?\s*\d{3}-\d{4})?"),
    ("ADDRESS", "japanese postcode", r"〒\s?\d{3}-?\d{4}"),
    ("ADDRESS", "postcode and town", rf"(?-i:\b\d{{4}}\s?[A-Z]{{2}}\s+[A-Z][a-z]+)"),  # 1016 GV Amsterdam
    ("ADDRESS", "postcode", rf"(?-i:\b(?:[A-Z]{{1,2}}\d[A-Z\d]?\s?\d(?!MG\b|ML\b|IU\b|CC\b)[A-Z]{{2}}|[A-Z]\d[A-Z]\s?\d[A-Z]\d"
     r"|[A-Z]\d[\dW]\s?(?=[A-Z\d]*[A-Z])(?=[A-Z\d]*\d)[A-Z\d]{4})\b)"),  # UK, Canada, Ireland (Eircode)
    ("ADDRESS", "labelled postcode",
     rf"(?<=\b{_POSTCODE_LABEL}\s*(?:is|was|:|#)?\s*)(?:{_UK_CA_POSTCODE}|\d{{3,6}}(?:-\d{{3,4}})?(?!\w))"),
    ("ADDRESS", "po box", rf"\bp\.?\s?o\.?\s+box\s+\d+{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "rural route", rf"\b(?:rr|r\.r\.|rural\s+route|hc)\s*#?\s*\d+,?\s+box\s+\d+{_CITY_STATE_ZIP}?"),
    ("ADDRESS", "unit", r"\b(?:apt|apartment|unit|suite|flat|plot)\.?\s*#?\s*\d+[a-z]?\b"),
]

# ---- names --------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*\.?", re.UNICODE)
# Who a person is to the writer ("my daughter", "our aide", "his physio").
_RELATIONS = (r"(?:son|daughter|wife|husband|mom|mum|mother|dad|father|sister|brother|grandson|granddaughter|grandma|"
              r"grandmother|grandpa|grandfather|nana|granny|aunt|uncle|niece|nephew|cousin|friend|partner|boyfriend|"
              r"girlfriend|gf|bf|fianc[eé]e?|kid|child|baby|boy|girl|patient|resident|client|neighbou?r|caregiver|"
              r"carer|aide|coach|physio|therapist|pt|surgeon|doctor|dr|gp|pcp|nurse|specialist|chiropractor|trainer|"
              r"teammate|roommate|spouse|stepson|stepdaughter|stepmom|stepdad|mother-in-law|father-in-law|"
              r"sister-in-law|brother-in-law|son-in-law|daughter-in-law|godson|goddaughter|twin|twins|kids|parents|"
              r"bestie|bro|sis|ma|pa|hubby|wifey|supervisor|manager|boss|coworker|co-worker|colleague|landlord|"
              r"tenant|pharmacist|dentist|vet)")
_INTRO = re.compile(  # a name follows these (case-insensitive, at the end of the text before the name)
    r"(?:\bmy\s+name\s+is|\bmy\s+name's|\bname\s*(?:is|:)|\bname\b[^.!?\n]{1,20}?\b(?:is|:)|\bi\s*am|\bi'?m|\bthis\s+is|\bit'?s|\bcall\s+me|"
    r"\bcalled|\bnamed|\bregards,?|\bthanks,?|\bthank\s+you,?|\bsincerely,?|\bcheers,?|\bbest,?|\blove,?|"
    r"\bxoxo,?|\bsigned,?|\bsig:|\bsign(?:ed)?\s+off|\bpatient:|\bpt:|\bresident:|\bname\s+of|"
    r"\b(?:dr|doctor|mr|mrs|ms|miss|mx|nurse|prof|professor|sister|brother|father|mother|coach|pastor|rev)\.?|"
    r"\b(?:my|our|his|her|their|the|your)\s+(?:\w+\s+)?" + _RELATIONS + r"(?:\s+(?:and|&)\s+" + _RELATIONS + r")?(?:'s)?,?|"
    r"\bgoes\s+by|\bnicknamed|\bn[eé]e|"
    r"\b(?:with|saw|see|seeing|seen\s+by|by|to|and|ask|asked|told|per|cc|attn|c/o|for)\s+(?=(?:dr|doctor)\b)|"
    r"[-\u2013\u2014~]\s*|\bhey|\bhi|\bhello|\bdear|\battn:?|\bc/o)[\s,]*$", re.IGNORECASE)
_INTRO_ES = re.compile(_INTRO.pattern[:-len(")[\\s,]*$")] + "|"
    # Spanish: "soy", "me llamo", "se llama", "mi nombre (completo) es", "a nombre de", "mi esposo", "la Dra."
    r"\bsoy|\bme\s+llamo|\bse\s+llama|\bmi\s+nombre(?:\s+completo)?\s+es|\bnombre\s*:|\ba\s+nombre\s+de|"
    r"\b(?:ella|[eé]l)\s+es|\bsaludos,?|\batentamente,?|\bgracias,?|"
    r"\b(?:dra|sra|srta|sr|don|doñ?a|doctora|enfermer[ao])\.?|"
    r"\b(?:mi|mis|su|sus|nuestr[ao])\s+(?:esposo|esposa|marido|mujer|hij[ao]|niet[ao]|herman[ao]|mam[aá]|pap[aá]|"
    r"madre|padre|abuel[ao]|t[ií][ao]|prim[ao]|cuñad[ao]|suegr[ao]|yerno|nuera|amig[ao]|vecin[ao]|compadre|"
    r"comadre|novi[ao]|sobrin[ao]|jefe|jefa|doctor|doctora|enfermer[ao]|paciente)(?:\s+se\s+llama)?,?)[\s,]*$", re.IGNORECASE)
_AFTER_NAME = re.compile(r"^\s*(?:here\b|speaking\b|writing\b|,\s*(?:age|aged|\d{1,3}\b|dob|born|here|mrn|"
                         r"member|patient|my\b|i\b|the\s+patient))", re.IGNORECASE)
# "Hyacinth (our clinical supervisor)", "tyler (my bf)": who the person is, in brackets after the name
_RELATION_AFTER = re.compile(r"^\s*\(\s*(?:my|our|his|her|their|your)\s+(?:[\w-]+\s+){0,2}" + _RELATIONS + r"\b",
                             re.IGNORECASE)
# A nickname in quotes, in brackets right after a name: 'Patrick ("Paddy")'.
_ALIAS_AFTER = re.compile(r"\s*\(\s*[\"\u201c'\u2018]([^\W\d_][\w'\u2019-]*)[\"\u201d'\u2019]\s*\)")
# Words after a name that make it a condition's or a procedure's name ("Baker's cyst", "Tommy John surgery").
_CONDITION_WORDS = (r"disease|syndrome|palsy|disorder|sign|test|tendon|tendinitis|tendinopathy|cyst|tumou?r|lymphoma|"
                    r"ataxia|dystrophy|neuroma|contracture|fracture|phenomenon|procedure|surgery|operation|"
                    r"reconstruction|repair|maneuver|manoeuvre|ligament")
# A name found elsewhere, written again before one of those words; body parts are left out: "Summer's knee"
# is a person's.
_EPONYM_AFTER = re.compile(rf"^(?:'s|\u2019s)?[\s-]+(?:[A-Z][\w-]*\s+)?(?:{_CONDITION_WORDS})\b")
# What follows a condition named by an eponym alone ("with Parkinson's, ...", "Raynaud's and Sjogren's").
_EPONYM_ALONE = re.compile(r"^\s*(?:$|[,.;:!?)]|(?:and|or|nor|but)\b)", re.IGNORECASE)
# A word chain read as a name: those words, and body parts, places, institutions and brands after it.
_CONDITION_AFTER = re.compile(
    rf"^(?:'s|\u2019s|s)?[\s-]+(?:[A-Z][\w-]*\s+){{0,2}}(?:{_CONDITION_WORDS}|tendonitis|anomaly|method|technique|"
    r"score|scale|classification|criteria|knot|node|nodes|body|bodies|cell|cells|canal|duct|gland|"
    r"muscle|space|area|lesion|deformity|elbow|knee|thumb|finger|toe|foot|shoulder|hip|neck|hand|arm|leg|"
    r"injection|protocol|clinic|hospital|center|centre|university|institute|foundation|county|street|"
    r"avenue|road|ave|st|rd|drive|lane|boulevard|hall|library|school|college|medicine|health|medical|"
    r"pharmacy|insurance|medicare|blue|cross|shield|brand|tablets?|pills?)\b", re.IGNORECASE)
_JOINERS = {"de", "da", "del", "della", "di", "van", "von", "der", "den", "la", "le", "du", "dos", "das", "bin",
            "ibn", "al", "el", "ben", "mac", "st", "y", "e"}
# Particles that begin a surname ("van der Berg", "de la Cruz", "Ní Bhriain"): taken before a found name even
# with no name word before them (a joiner such as "y" only between two names).
_PARTICLES = (_JOINERS - {"y", "e", "st"}) | {"binti", "ni", "nic", "ter", "ten", "zu", "vom"}
_STOP = {"nee", "i", "a", "an", "the", "and", "or", "but", "my", "me", "we", "you", "he", "she", "it", "they", "is",
         "am", "are", "was", "were", "be", "been", "have", "has", "had", "do", "does", "did", "to", "of", "in",
         "on", "at", "for", "from", "with", "by", "about", "as", "if", "so", "not", "no", "yes", "ok", "okay",
         "hi", "hello", "hey", "dear", "thanks", "thank", "please", "pls", "can", "could", "would", "should",
         "will", "shall", "may", "might", "must", "this", "that", "these", "those", "what", "which", "who",
         "when", "where", "why", "how", "here", "there", "just", "also", "too", "very", "really", "all", "any",
         "some", "doctor", "dr", "mr", "mrs", "ms", "miss", "nurse", "patient", "son", "daughter", "wife",
         "husband", "mom", "dad", "mother", "father", "sir", "madam", "maam", "team", "staff", "clinic",
         "everyone", "anyone", "someone", "nobody", "god", "lord", "jesus", "monday", "tuesday", "wednesday",
         "thursday", "friday", "saturday", "sunday", "today", "tomorrow", "yesterday", "am", "pm", "im", "ive",
         "id", "ill", "its", "got", "get", "gonna", "wanna", "lol", "omg", "btw", "idk", "tbh", "thx", "ty",
         "u", "ur", "r", "y", "ya", "yeah", "yep", "nope", "um", "uh", "hmm", "sorry", "sincerely", "regards",
         "best", "cheers", "love", "xoxo", "english", "spanish", "american", "january", "february", "march",
         "april", "june", "july", "august", "september", "october", "november", "december", "mri", "ct",
         "x-ray", "xray", "prp", "er", "icu", "usa", "us", "uk", "ok", "pt", "ot", "gp", "pcp", "md", "do",
         "rn", "np", "pa", "phd", "dds", "jr", "sr", "ii", "iii", "iv"}


@lru_cache(maxsize=1)
def _words() -> dict[str, frozenset]:
    try:
        with gzip.open(WORDS_FILE, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):  # a damaged install: redact with the patterns alone, and say so
        logging.getLogger("assistant.redact").error("cannot read %s; names are found by context only", WORDS_FILE)
        data = {}
    return {k: frozenset(data.get(k, ())) for k in ("names", "eponyms", "ordinary", "places")}


_STRONG_INTRO = re.compile(r"(?:\bmy\s+name\s+is|\bmy\s+name's|\bname\s*(?:is|:)|\bcalled|\bcall\s+me|\bnamed)[\s,]*$",
                           re.IGNORECASE)
_TITLE = re.compile(r"\b(?:dr|dra|doctor|doctora|mr|mrs|ms|miss|mx|nurse|prof|professor|coach|pastor|rev|"
                    r"sr|sra|srta|señor|señora|señorita|senor|senora|don|doña|dona|enfermera|enfermero|lic)\.?\s*$", re.IGNORECASE)
_PLACE_BEFORE = re.compile(r"\b(?:in|of|near|at|to|from|across|around|outside|visiting|moved|live|lives|living)\s*$",
                           re.IGNORECASE)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]|\(|\u2014|--)\s*[\"'(]?\s*$")


def _is_cap(token: str) -> bool:
    return token[:1].isupper()


def _uncased(token: str) -> bool:
    """Letters of a script without capitals (Han, Hangul, Arabic, Devanagari...)."""
    return token[:1].isalpha() and not token[:1].isupper() and not token[:1].islower()


def _foreign(token: str) -> bool:
    """Letters of a non-Latin script left after look-alike folding (Greek, Cyrillic, Han, Hangul, Arabic...)."""
    return any(c.isalpha() and not unicodedata.name(c, "LATIN").startswith("LATIN") for c in token)


def _mostly_latin(text: str) -> bool:
    return latin_share(text) >= 0.7


@lru_cache(maxsize=20_000)
def _rare(word: str) -> bool:
    """Not an everyday English word (names mostly are not)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") < 3.0


@lru_cache(maxsize=20_000)
def _common(word: str) -> bool:
    """An everyday English word ("and", "today", "from"): not a surname after "my name is jane"."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= 4.5


def _key(token: str) -> str:
    from unidecode import unidecode

    low = token.lower().replace("\u2019", "'").rstrip(".")
    low = low[:-2] if low.endswith("'s") else low
    return unidecode(low) if not low.isascii() else low


class _NamesIn:
    """The name list as seen in a message in another language: a name that is also an everyday word of that
    language ("una", "luz", "dios" in Spanish) is not taken for a name on its own."""

    def __init__(self, names: frozenset, lang: str):
        self.names, self.lang = names, lang

    def __contains__(self, word: str) -> bool:
        return word in self.names and _zipf(word, self.lang) < EVERYDAY_ZIPF


EVERYDAY_ZIPF = 5.0  # Zipf frequency of an everyday word (5 = once per 100,000 words)


@lru_cache(maxsize=20_000)
def _zipf(word: str, lang: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, lang)


def find_names(text: str, lang: str = "en") -> list[tuple[int, int]]:
    """Spans of people's names in `text` (already normalised): a chain of name-like words, kept when its
    context says it is a person (introduced, titled, signed, capitalised mid-sentence, followed by "here")
    and not a condition, a drug or a place."""
    w = _words()
    names, eponyms, ordinary, places = w["names"], w["eponyms"], w["ordinary"], w["places"]
    if lang != "en":
        names = _NamesIn(names, lang)
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    lowercase_message = not any(_is_cap(t) for _, _, t in tokens[1:])
    latin = _mostly_latin(text)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        start, end, tok = tokens[i]
        key = _key(tok)
        before = text[max(0, start - 60):start]
        title = bool(_TITLE.search(before))
        strong = bool(_STRONG_INTRO.search(before))
        cued = title or bool((_INTRO_ES if lang == "es" else _INTRO).search(before))
        caps = _is_cap(tok)
        bare = tok.rstrip(".")
        acronym = bare.isupper() and 2 <= len(bare) <= 4 and not text.isupper()  # ART, PRP, ACL: not names
        lead_initial = len(tok.rstrip(".")) == 1 and tok[:1].isupper() and tok.endswith(".") and i + 1 < len(tokens) \
            and _is_cap(tokens[i + 1][2])  # "T. H. Morimoto", "Mr. A. RAHMAN"
        if (key in _STOP or len(key) < 2) and not lead_initial:
            i += 1
            continue
        # the chain: this word and the rest of the name after it
        j, last_end, known, initials = i + 1, end, [key in names], 0
        while j < len(tokens) and j - i < 5:
            s2, e2, t2 = tokens[j]
            gap = text[last_end:s2]
            if gap.strip() not in ("", "-") or "\n" in gap:
                break
            k2 = _key(t2)
            initial = len(t2.rstrip(".")) == 1 and t2[:1].isupper()
            if initial and not caps and not lowercase_message:
                break
            if initial:
                initials += 1
                known.append(False)
                j, last_end = j + 1, e2
                continue
            if k2 in _STOP:
                break
            if k2 in _JOINERS and j + 1 < len(tokens) and _is_cap(tokens[j + 1][2]):
                j, last_end = j + 1, e2
                continue
            first_namey = key in names and key not in ordinary
            lower_ok = not _is_cap(t2) and not caps and (k2 in names and k2 not in ordinary
                                                         or (cued or first_namey) and _rare(k2)
                                                         or strong and j == i + 1 and not _common(k2)) \
                and (cued or key in names and key not in ordinary)
            if (_is_cap(t2) and (caps or lowercase_message)) or _uncased(t2) or lower_ok:
                known.append(k2 in names)
                j, last_end = j + 1, e2
                continue
            break
        length = j - i
        after = text[last_end:last_end + 40]
        condition = bool(_CONDITION_AFTER.match(after))
        signed = bool(_AFTER_NAME.match(after))
        sentence_start = bool(_SENTENCE_START.search(before))
        namey = key in names and key not in ordinary
        surname = length > 1 and _key(tokens[j - 1][2]) in names and _key(tokens[j - 1][2]) not in ordinary
        place = (key in places or bool(_PLACE_BEFORE.search(before))) and not title and not (length > 1 and namey) \
            and not surname
        paren = before.rstrip().endswith("(")
        if cued and not title and re.search(r"[-\u2013\u2014~]\s*$", before) and not re.match(r"\s*(?:$|[,.\n])", after):
            cued = False  # a dash introduces a signature ("... Thank you - T. Wisniewski, tel."), not "Parasites - X ?"
        unknown = sum(_key(t) not in names for _, _, t in tokens[i:j] if len(t.rstrip(".")) > 1)
        eponym = any(_key(t) in eponyms for _, _, t in tokens[i:j])
        last_line = bool(re.match(r"\s*[.!]?\s*(?:$|\n)", after)) and bool(re.search(r"(?:^|\n|,)\s*$", before))
        if latin and _foreign(tok):
            is_name = True  # a word in another script inside an English message: a name, as a rule
        elif condition and not (title or cued and length > 1):
            is_name = False  # "Parkinson's disease", "Tommy John surgery", "Baker's cyst": not a person
        elif title:
            is_name = caps or namey or _rare(key)
        elif cued:
            is_name = (caps and not acronym and (key in names or _rare(key) or length > 1)) or namey \
                or _uncased(tok) or (not caps and _rare(key) and len(key) > 2) or (length > 1 and any(known))
        elif paren and namey and not eponym:
            is_name = True  # "(Nikos, if the letters don't show)", "(jessica albright)"
        elif _RELATION_AFTER.match(after) and not acronym and not place:
            is_name = caps or namey or lowercase_message and not _common(key)
        elif signed or last_line and "\n" in text[:start]:  # "... Warm regards,\nAngus MacLeod" at the end
            is_name = (caps or lowercase_message) and (any(known) or length > 1) and not place and not acronym
        elif caps and not place and not acronym:
            if (initials and length > 2) or lead_initial:
                is_name = True  # "Hamid R. Tehrani", "T. Wisniewski"
            elif length > 1:
                is_name = namey and not eponym and unknown <= 1  # not "Rocky Mountain Spotted Fever"
            else:
                is_name = namey and key not in eponyms and not sentence_start
        elif not caps and length > 1 and namey and all(known[:2]) and (lowercase_message or signed) and not eponym:
            is_name = True  # "jake morales" in a message typed in lower case
        else:
            is_name = False
        if not is_name:
            i += 1
            continue
        if text[last_end - 1:last_end] == "." and text[last_end - 2:last_end - 1].islower():
            last_end -= 1  # the full stop after a name is the sentence's
        if text[last_end - 2:last_end].lower() in ("'s", "\u2019s"):
            last_end -= 2  # "Dr. [name]'s": the possessive stays
        spans.append((start, last_end))
        i = j
    return spans


# ---- the learned name tagger ------------------------------------------------------------------------
# A logistic model over each word's features (spelling, the name lists, word frequency, the words and
# punctuation around it, the context cues above), trained by evals/train_pii.py on independently written
# messages (the PII sets' tuning and training authors) and MedQuAD questions (no names, many eponyms).
NAME_MODEL = Path(__file__).resolve().parent / "models" / "names.npz"
HASH_DIM = 1 << 15


def _bucket(x: float, edges: tuple) -> int:
    return sum(x >= e for e in edges)


def token_features(text: str) -> tuple[list[tuple[int, int, str]], list[list[str]]]:
    """The words of `text` (normalised) and, for each, its named features (hashed by the model)."""
    from wordfreq import zipf_frequency

    w = _words()
    names, eponyms, ordinary, places = w["names"], w["eponyms"], w["ordinary"], w["places"]
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    lowercase_message = not any(_is_cap(t) for _, _, t in tokens[1:])
    upper_message = text.isupper()
    latin = _mostly_latin(text)
    keys = [_key(t) for _, _, t in tokens]
    context = _context_words()
    feats: list[list[str]] = []
    for i, (start, end, tok) in enumerate(tokens):
        key = keys[i]
        bare = tok.rstrip(".")
        before, after = text[max(0, start - 60):start], text[end:end + 40]
        shape = "C" if _is_cap(tok) else "l" if tok[:1].islower() else "o"
        if bare.isupper() and len(bare) > 1:
            shape = "U"
        f = [f"shape={shape}", f"msg_lower={lowercase_message}", f"msg_upper={upper_message}",
             f"known={key in names}", f"ordinary={key in ordinary}", f"eponym={key in eponyms}",
             f"place={key in places}", f"stop={key in _STOP}", f"initial={len(bare) == 1 and tok.endswith('.')}",
             f"zipf={_bucket(zipf_frequency(key, 'en'), (1, 2, 3, 3.5, 4, 4.5, 5, 6))}",
             f"len={min(len(key), 10)}", f"foreign={latin and _foreign(tok)}",
             f"sent_start={bool(_SENTENCE_START.search(before))}", f"intro={bool(_INTRO.search(before))}",
             f"strong={bool(_STRONG_INTRO.search(before))}", f"title={bool(_TITLE.search(before))}",
             f"after_name={bool(_AFTER_NAME.match(after))}", f"condition_after={bool(_CONDITION_AFTER.match(after))}",
             f"place_before={bool(_PLACE_BEFORE.search(before))}", f"poss={key != tok.lower().rstrip('.')}",
             f"pc={before[-1:] if before else '^'}", f"nc={after[:1] if after else '$'}",
             f"shape_known={shape}{key in names and key not in ordinary}"]
        for d in (1, 2):
            if i - d >= 0:
                k2, t2 = keys[i - d], tokens[i - d][2]
                f += [f"p{d}={k2 if k2 in context else '*'}", f"p{d}known={k2 in names and k2 not in ordinary}",
                      f"p{d}shape={'C' if _is_cap(t2) else 'l'}"]
            else:
                f.append(f"p{d}=^")
            if i + d < len(tokens):
                k2, t2 = keys[i + d], tokens[i + d][2]
                f += [f"n{d}={k2 if k2 in context else '*'}", f"n{d}known={k2 in names and k2 not in ordinary}",
                      f"n{d}shape={'C' if _is_cap(t2) else 'l'}"]
            else:
                f.append(f"n{d}=$")
        feats.append(f)
    return tokens, feats


# Context words the tagger sees by name (others as "*"): everyday English words, so it learns "my son _",
# "_ here", "dr _" and the like from the data rather than from a list.
@lru_cache(maxsize=1)
def _context_words() -> frozenset:
    from wordfreq import top_n_list

    return frozenset(top_n_list("en", 3000)) | _STOP


def _hash(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % HASH_DIM


@lru_cache(maxsize=1)
def _name_model() -> tuple[np.ndarray, float, float] | None:
    try:
        with np.load(NAME_MODEL) as z:
            return z["coef"].astype(np.float32), float(z["intercept"]), float(z["threshold"])
    except (OSError, KeyError, ValueError):
        return None


def name_probabilities(text: str) -> tuple[list[tuple[int, int, str]], np.ndarray]:
    """Each word of `text` and the tagger's probability that it is part of a person's name."""
    tokens, feats = token_features(text)
    model = _name_model()
    if model is None or not tokens:
        return tokens, np.zeros(len(tokens), dtype=np.float32)
    coef, intercept, _ = model
    z = np.array([coef[[_hash(x) for x in f]].sum() for f in feats], dtype=np.float32) + intercept
    return tokens, 1.0 / (1.0 + np.exp(-z))


def find_names_learned(text: str) -> list[tuple[int, int]]:
    """Runs of words the tagger puts at or above its threshold (joined across single spaces and hyphens)."""
    model = _name_model()
    if model is None:
        return []
    tokens, p = name_probabilities(text)
    eponyms = _words()["eponyms"]
    spans: list[tuple[int, int]] = []
    for (start, end, tok), prob in zip(tokens, p):
        if prob < model[2]:
            continue
        if text[end - 2:end].lower() in ("'s", "\u2019s"):
            # "with Parkinson's, ...", "Raynaud's and ...": a condition named by its eponym, not a person's
            # possession ("Hunter's birthday"), unless a title or a name stands before it ("Mr. Wilson's")
            if (_key(tok) in eponyms and _EPONYM_ALONE.match(text[end:])
                    and not (spans and text[spans[-1][1]:start].strip() in ("", "-"))
                    and not _TITLE.search(text[max(0, start - 12):start])):
                continue
            end -= 2
        elif tok.endswith(".") and len(tok) > 2:
            end -= 1
        if spans and text[spans[-1][1]:start].strip() in ("", "-", ".") and "\n" not in text[spans[-1][1]:start]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _name_part(token: str, lowercase_message: bool, first: bool = False) -> bool:
    """A word that may continue a found name. In a message with capitals: a capitalised word whose parts
    (split at hyphens) are listed names, joiners ("al-", "el-") or words rare in English (Bekele,
    Thibodeaux; a rare word not as a sentence's first word), and not an everyday English word unless a listed
    name (Hope, Faith). In a message typed all in lowercase: a listed name that is not an everyday word.
    Never a possessive (Parkinson's), a place or a stop word."""
    w, key = _words(), _key(token)
    if key in _STOP or key in w["places"] or token.endswith(("'s", "\u2019s")):
        return False
    parts = [p for p in key.split("-") if p]
    if not parts or all(p in _JOINERS for p in parts):
        return False
    if lowercase_message:
        return all(p in _JOINERS or (p in w["names"] and not _common(p)) for p in parts)
    if not _is_cap(next((p for p in re.split(r"[-']", token) if _key(p) not in _JOINERS), token)):  # al-Harbi
        return False
    if re.match(r"^(?:O|D)['\u2019][A-Z]\w+$", token):  # O'Neill, D'Souza: a surname's form
        return True
    # A sentence's first word has its capital anyway ("Gracias Ana"): there only a listed name.
    return all(p in _JOINERS or p in w["names"] or (_rare(p) and p not in w["eponyms"] and not first) for p in parts)


_I = {"i", "i'm", "i'll", "i've", "i'd"}  # capitals that a message otherwise typed in lowercase still has


def _whole_name(text: str, start: int, end: int, tokens: list[tuple[int, int, str]],
                lowercase_message: bool) -> tuple[int, int]:
    """A found name grown to the whole of the person's name around it: "[name] tanaka" and "Carmen [name]"
    leave half a name behind. The words next to it (a space or a hyphen apart, on its line) are taken while
    they are listed names, with a joiner ("de la", "van") or an initial ("m.") between two such words.
    `tokens`: the text's words (_TOKEN), read once for all its names."""
    right = [x for x in tokens if x[0] >= end]
    left = [x for x in reversed(tokens) if x[1] <= start]

    def grow(edge: int, seq: list, after: bool) -> int:
        pending = edge  # joiners and initials are taken only with the name word after them
        at = edge
        for s, e, tok in seq:
            gap = text[at:s] if after else text[e:at]
            if gap not in (" ", "-", ""):
                break
            key = _key(tok)
            if key in _JOINERS or key in _PARTICLES or (len(key) == 1 and tok.endswith(".")):
                at = e if after else s
                if not after and key in _PARTICLES:  # "van der [name]", "de la [name], Rosario": the surname's own
                    pending = at
                continue
            if not _name_part(tok.rstrip("."), lowercase_message, first=bool(_SENTENCE_START.search(text[:s]))):
                break
            if after and tok.endswith(".") and len(tok) > 2:
                e -= 1  # "...my friend Abebe Girma.": the full stop is the sentence's
            pending = at = e if after else s
        return pending

    return grow(start, left, after=False), grow(end, right, after=True)


# ---- the analyzer ---------------------------------------------------------------------------------------
_lock = threading.Lock()
_recognizers: list | None = None


@contextmanager
def _without_optional(*modules: str):
    """Import with these modules reported missing (an ImportError, which Presidio's optional NLP engines
    expect and skip), unless something already loaded them. Presidio's package import otherwise loads its
    Hugging Face engine, and with it transformers and torch: 3-4 s and about 350 MB per app process, for
    pattern recognizers that need neither. The modules are importable again afterwards."""
    blocked = [m for m in modules if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for m in blocked:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]


def _load_recognizers() -> list:
    """Presidio's predefined pattern recognizers and ours, built once (no NLP model is loaded)."""
    global _recognizers
    with _lock:
        if _recognizers is None:
            _quiet_tldextract()
            # Presidio logs every recognizer it loads at INFO: a dozen lines at each start, nothing to act on.
            logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
            with _without_optional("transformers", "torch"):
                from presidio_analyzer import Pattern, PatternRecognizer
                from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, DateRecognizer,
                                                                      EmailRecognizer, IbanRecognizer, IpRecognizer,
                                                                      PhoneRecognizer, UsSsnRecognizer)

            ours: dict[str, list] = {}
            for entity, name, regex in PATTERNS:
                ours.setdefault(entity, []).append(Pattern(name, regex, 0.6))
            recognizers = [EmailRecognizer(), UsSsnRecognizer(), CreditCardRecognizer(), IbanRecognizer(),
                           IpRecognizer(), DateRecognizer(),
                           PhoneRecognizer(supported_regions=("US", "CA", "GB", "MX", "ES", "IN", "PH", "NG", "VN",
                                                              "PL", "CN", "DE", "FR", "IT", "AU", "BR", "CO"))]
            for entity, patterns in ours.items():
                rec = PatternRecognizer(supported_entity=entity, patterns=patterns, name=f"clinic-{entity.lower()}")
                rec.global_regex_flags = re.IGNORECASE | re.UNICODE | re.DOTALL | re.MULTILINE
                recognizers.append(rec)
            _recognizers = recognizers
    return _recognizers


def _quiet_tldextract() -> None:
    """Presidio's email check uses tldextract, whose default fetches the public-suffix list over the network;
    use the snapshot inside the package instead (nothing downloads at run time)."""
    try:
        import tldextract
        import tldextract.tldextract as tx

        tx.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    except Exception:  # noqa: BLE001 - only the email recognizer's TLD check depends on it
        pass


# ---- addresses after a label ----------------------------------------------------------------------------
# Street formats differ by country ("Blk 12 Lot 7, Brgy. San Isidro", "Số 18, Ngõ 52 Phố ...", "ul. Długa 12/4,
# 31-147 Kraków"); what people write before them does not: "Address:", "her address there is", "lives at",
# "Dirección:". After such a label the address runs to the end of its sentence (a period after an
# abbreviation or a single letter does not end it), a new line, a semicolon or a joining word, and must hold
# a digit (every postal address has a number; "lives at home" has none).
_ADDRESS_LABEL = re.compile(
    r"(?:\b(?:(?:my|his|her|their|our|your|the|home|mailing|postal|street|new|old|permanent|current)\s+)+address"
    r"(?:\s+(?:there|here|back\s+home|at\s+home|(?:for|on|in)\s+(?:the\s+)?[^\W\d_]+(?:\s+[^\W\d_]+)?))?\s*(?:is\b|was\b|[:\-\u2013])"
    r"|\baddress(?:\s+(?:for|on|in)\s+(?:the\s+)?[^\W\d_]+(?:\s+[^\W\d_]+)?)?\s*(?:[:\-\u2013]|is\b)"
    r"|\b(?:direcci[oó]n|domicilio|endere[cç]o|indirizzo|adresse|anschrift|residence|residencia|resid[eê]ncia)\s*[:\-\u2013]?"
    r"|\b(?:lives|living|live|stays|staying|resides|residing)\s+at\b|\bc/o\b"
    r"|\b(?:send|post|mail|write)\b[^.\n]{0,40}?\bto(?:\s+(?:her|him|me|them|us))?(?:\s+at)?\s*:?)[ \t]*", re.I)
_ADDRESS_STOP = re.compile(r"\n|;|\s(?:and|but|so|because|please|if|who|which|she|he|they|we|with|since|until|for|from|"
                           r"to|y|para|con|com|desde|or|thanks|thank|thx|cheers|regards|gracias|merci|danke)(?=[\s.,!?]|$)"
                           r"|\.(?=\s|$)", re.I)
_ABBREVIATIONS = frozenset("st ave av avda rd dr blvd no nr col brgy apt apto bldg jl ul int conj izda dcha pl ln ct hwy "
                           "mt ft ph blk sec dist prov tp sr sra p.o po c.p cp co".split())
_ADDRESS_FIRST_WORDS = _ABBREVIATIONS | {"flat", "house", "plot", "calle", "rua", "via"}  # lower-case starts
ADDRESS_MAX_CHARS = 160


def find_labelled_addresses(text: str) -> list[tuple[int, int]]:
    """Spans of addresses written after an address label, in any country's format."""
    spans = []
    for m in _ADDRESS_LABEL.finditer(text):
        start = m.end()
        while start < len(text) and text[start] in " \t\n:":
            start += 1
        first = re.match(r"[^\W_]+", text[start:])
        if not first or not (text[start].isdigit() or text[start].isupper() or first.group().lower() in _ADDRESS_FIRST_WORDS):
            continue
        end = min(len(text), start + ADDRESS_MAX_CHARS)
        for stop in _ADDRESS_STOP.finditer(text, start, end):
            if stop.group() == ".":  # a period after an abbreviation or an initial does not end the address
                before = re.search(r"([^\W_]+|[^\W_](?:\.[^\W_])+)$", text[start:stop.start()])
                word = before.group(1).lower() if before else ""
                if word and not word.isdigit() and (len(word) == 1 or word in _ABBREVIATIONS):
                    continue
            end = stop.start()
            break
        body = text[start:end].rstrip(" ,.-\u2013")
        if len(body) >= 5 and any(ch.isdigit() for ch in body):
            spans.append((start, start + len(body)))
    return spans


NAME_MODES = ("rules", "learned", "union")


def find(text: str, names: str = "union") -> list[tuple[int, int, str]]:
    """(start, end, entity) of every identifier in the normalised text, overlaps resolved. `names`: how
    people's names are found: the context rules, the learned tagger, or both (the default)."""
    found: list[tuple[int, int, str]] = []
    for rec in _load_recognizers():
        for r in rec.analyze(text, rec.supported_entities, None):
            if r.score >= 0.05 and r.end > r.start:
                found.append((r.start, r.end, r.entity_type))
    found += [(s, e, "ADDRESS") for s, e in find_labelled_addresses(text)]
    lang = detect_language(text)
    if names == "union" and lang != "en":
        names = "rules"  # the tagger learned English messages: in another language every word looks rare to it
    if names in ("rules", "union"):
        found += [(s, e, "NAME") for s, e in find_names(text, lang)]
    if names in ("learned", "union"):
        found += [(s, e, "NAME") for s, e in find_names_learned(text)]
    if any(label == "NAME" for _, _, label in found):
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        lowercase = not any(_is_cap(tok) and _key(tok) not in _I for _, _, tok in tokens[1:])
        found = [(*_whole_name(text, s, e, tokens, lowercase), label) if label == "NAME" else (s, e, label)
                 for s, e, label in found]
        found += [(m.start(1), m.end(1), "NAME") for a, b, label in found if label == "NAME"
                  for m in [_ALIAS_AFTER.match(text, b)] if m]  # 'Brennan-Walsh, Patrick ("Paddy")'
        found += _couples(text, found)
        found += _same_names(text, tokens, found)
    found.sort(key=lambda x: (x[0], -(x[1] - x[0]), _PRIORITY.index(x[2]) if x[2] in _PRIORITY else 99))
    merged: list[tuple[int, int, str]] = []
    for s, e, label in found:
        if merged and s < merged[-1][1]:  # overlapping: one placeholder over the union
            ps, pe, pl = merged[-1]
            keep = pl if (pe - ps) >= (e - s) else label
            merged[-1] = (ps, max(pe, e), keep)
        else:
            merged.append((s, e, label))
    return merged


_COUPLE = re.compile(r"\b([A-Z][a-z]+)\s+(?:and|&)\s+(?:([A-Z][a-z]+)\s+)?$")


def _couples(text: str, found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """First names joined by "and" before a found name: "Mark and June [Halvorsen]", "Mark and [June Halvorsen]"
    (listed first names, capitalised)."""
    names = _words()["names"]
    out = []
    for start, _, label in found:
        m = _COUPLE.search(text[max(0, start - 40):start]) if label == "NAME" else None
        if not m or not all(g is None or _key(g) in names for g in m.groups()):
            continue
        base = max(0, start - 40)
        out += [(base + m.start(k), base + m.end(k), "NAME") for k in (1, 2) if m.group(k)]
    return out


def _same_names(text: str, tokens: list[tuple[int, int, str]], found: list[tuple[int, int, str]]) -> list:
    """The other mentions of a name already found in the message ("my brother-in-law khanh and his wife dawn
    ... khanh has golfer's elbow"): each word of a found name, written the same way (case included) elsewhere
    in the message and not already inside a found span, is that person's name again ("Summer's knee" too).
    Words of two letters or fewer, stop words, joiners, particles, places and eponyms are left alone, and so is
    a mention that names a condition ("Tommy John surgery", "Baker's cyst")."""
    spans = [(s, e) for s, e, _ in found]
    w = _words()
    skip = _STOP | _JOINERS | _PARTICLES | w["places"] | w["eponyms"]
    words = {tok.rstrip(".") for s, e, tok in tokens for a, b, label in found
             if label == "NAME" and a <= s and e <= b}
    words = {word for word in words if len(word) > 2 and _key(word) not in skip}
    out = []
    for s, e, tok in tokens:
        bare = tok[:-2] if tok.endswith(("'s", "\u2019s")) else tok.rstrip(".")
        if bare in words and not any(a <= s < b for a, b in spans) \
                and not _EPONYM_AFTER.match(text[s + len(bare):s + len(bare) + 60]):
            out.append((s, s + len(bare), "NAME"))
    return out


def redact(text: str, names: str = "union") -> str:
    """The text (normalised) with personal identifiers replaced by placeholders such as [name] and [email]."""
    if not text:
        return text
    text = normalise(text)
    out, last = [], 0
    for s, e, label in find(text, names):
        out.append(text[last:s])
        out.append(LABELS.get(label, "[id]"))
        last = e
    out.append(text[last:])
    return "".join(out)
