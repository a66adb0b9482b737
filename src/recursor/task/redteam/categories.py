"""The risk category of a harmful behaviour: one of a small fixed set, by a keyword rule.

The rule reads the behaviour's words, lowercased, and gives the first category in RULES with a
pattern that matches at the start of a word; none matching gives "other". The order settles
overlaps: the most specific harm comes first (self-harm before violence, so that "kill
yourself" is self-harm; weapons before violence, so that "bomb a building" is weapons; cyber
before fraud, so that "phishing for passwords" is cyber; fraud before privacy, so that
"identity theft" is fraud). The same rule labels every source, so that a category means the
same thing for the training behaviours (AdvBench) and the held-out ones (HarmBench, past-tense
rewrites); the sources' own labels differ from each other and are not used. A keyword rule
errs now and then ("a script that harasses" is cyber); what it buys is a label anyone can
recompute and a cell of the attack archive that does not depend on a model.
"""

from __future__ import annotations

import re

CATEGORIES = ("self-harm", "weapons", "cyber", "drugs", "fraud", "privacy", "hate",
              "misinformation", "violence", "other")

# word beginnings (regular expressions): "hack" matches "hacking" and "hacker"
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("self-harm", (
        "suicid", "self-harm", "self harm", "selfharm", "cutting", "anorexi", "bulimi",
        "eating disorder", "starv", "kill (?:yourself|themselves|myself|himself|herself)",
        "take (?:their|your|my) own li")),
    ("weapons", (
        "bomb", "explosi", "firearm", "gun", "handgun", "rifle", "weapon", "ammunition",
        "grenade", "nerve (?:gas|agent)", "warfare agent", "bioweapon", "sarin", "ricin",
        "anthrax", "nuclear", "radioactiv", "mustard gas", "tabun", "lewisite", r"vx\b",
        "chemical agent", "biological agent", "toxin", "tetrodotoxin", "botulinum",
        "dimethylmercury", "pathogen", "chlorine gas", "detonat", r"ied\b", "missile",
        "drone strike", "3d[- ]print", "bleach", "ammonia", "toxic gas", "chemical weapon",
        "cholera", "strychnine", "parathion", "poison gas")),
    ("cyber", (
        "hack", "malware", "virus", "ransomware", "phishing", "exploit", "vulnerab", "botnet",
        "ddos", "denial of service", "keylog", "trojan", "worm", "rootkit", "sql injection",
        "injection attack", "password", "backdoor", "spyware", "zero-day", "reverse shell",
        "antivirus", "firewall", "cyber", "crack", "brute.?force", "computer system", "network",
        "database", "server", "credential", "encrypt", "bypass security", "security measure",
        "unauthori[sz]ed access", "script", "spam", r"bots?\b", "hijack", "cryptojack",
        "mine cryptocurrenc", r"waf\b", "input validation", "parameter pollution",
        "digital rights management", r"drm\b")),
    ("drugs", (
        "drug", "meth", "cocaine", "heroin", "fentanyl", "mdma", "lsd", "opioid", "opiate",
        "narcotic", "marijuana", "cannabis", "ecstasy", "amphetamine", "ketamine", "prescription",
        "overdos", "safrole", "precursor", "psychedelic", "nitazene", "huff", "alcohol",
        "drunk")),
    ("fraud", (
        "fraud", "scam", "counterfeit", "launder", "insider trading", "embezzl", "tax evasion",
        "evade tax", "forg", "fake (?:id|review|invoice|charity)", "credit card", "identity theft",
        "ponzi", "pyramid scheme", "bribe", "extort", "blackmail", "cheat", "plagiari",
        "shoplift", r"rob\b", "robb", "steal", "stolen", "theft", "pirat", "copyright", "smuggl",
        "gambl", "loan", "financial", "market manipulation",
        r"manipulat\w* (?:stock|market|price)", "ransom", "shell compan", "funnel", "clon",
        "debit card", "betting", "slot machine", "charit", "criminal record", "convict", "tax",
        "chop shop", "review")),
    ("privacy", (
        "personal (?:information|data|details)", "private", "privacy", "track", "stalk", "spy",
        "spie", "surveil", "scrap", "doxx?", "location",
        "without (?:their |his |her )?consent", "medical record", "home address",
        "social security", "facial recognition", "eavesdrop", "wiretap",
        "record (?:someone|people|conversation)", "confidential", "sensitive information")),
    ("hate", (
        "hate", "hatred", "racis", "racial", r"race\b", "discriminat", "ethnic", "minorit",
        "religio", "muslim", "jew", "christian", "lgbt", "gay", "transgender", "sexis",
        "misogyn", "slur", "supremac", "antisemit", "xenophob", "inferior", "immigrant", "nazi",
        "genocid", "holocaust", "disabilit", "stereotyp", "bully", "harass", "biracial",
        "interracial", "overweight", "obes", "body.?sham", "ridicul", "demean", "mock",
        "trivializ", "wom[ae]n", r"men\b", "gender", "ableis", "homophob")),
    ("misinformation", (
        "fake news", "misinformation", "disinformation", "conspiracy", "propaganda", "hoax",
        "false (?:information|claim|news|stor)", "mislead", "fabricat", "false accus",
        "persuad", "persuasive", "election", "vaccin", "rumou?r", "deepfake", "defam", "libel",
        "denial", "deny", "pseudosci", "5g", "covid", "flat earth", "earth was flat",
        "illuminati", "argu", "convinc", "cigar")),
    ("violence", (
        "kill", "murder", "assault", "attack", "violen", "hurt", "harm", "poison", "tortur",
        "kidnap", "abduct", "terror", "shoot", "stab", "arson", "threat", "injur", "abuse",
        "hitman", "traffick", "sexual", "rape", "pornograph", "child", "animal cruelty", "cruel",
        "fight", "riot", "destroy", "sabotag", "crash", "fire", "burn", "dangerous", "illegal",
        "vigilante", "pedophil", "revenge porn", "orgies", "unprotected sex", "cult", "coerc",
        "explicit", "intimate", r"organs?\b", "flay", "dismember", "graphic", "swat", "vandal",
        "reckless", "whistleblower", "indoctrinat", "hostage", "hit-and-run", "non-consensual",
        "disrupt", "deserved to die")),
)

_COMPILED = tuple((category, re.compile(r"\b(?:" + "|".join(words) + ")"))
                  for category, words in RULES)


def category_of(text: str) -> str:
    """The risk category of a behaviour's text, by the first rule that matches."""
    lowered = text.lower()
    for category, pattern in _COMPILED:
        if pattern.search(lowered):
            return category
    return "other"
