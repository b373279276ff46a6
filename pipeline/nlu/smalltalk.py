"""Messages that are only social: a greeting, thanks, a goodbye or an acknowledgement ("hi", "thanks!", "ok great, bye").

    >>> [social_kind(m) for m in ("hi", "Thanks a lot!!", "ok great, bye :)", "thanks, where is my order?", "yes")]
    ['greeting', 'thanks', 'goodbye', None, None]

The whole message must be made of social phrases (at most ``MAX_WORDS`` words): anything else ("thanks, and where is
my order?") is a request and goes to the classifier as before. "yes" and "no" are not social: they answer questions.
When a message holds several kinds, the last in the conversation's course wins: goodbye, then thanks, then greeting,
then a bare acknowledgement. The policy stage (:mod:`pipeline.policy`) routes such a message to ``smalltalk``.
"""
from __future__ import annotations

import re

MAX_WORDS = 10
_PHRASES = {
    "greeting": r"(?:hi+|hello+|hey+) there|hi+|hello+|hey+|hiya|howdy|yo|good (?:morning|afternoon|evening|day)|greetings",
    "thanks": r"thank you|thanks?|thx|ty|tysm|cheers|(?:much|greatly) appreciated|appreciate it|i appreciate it"
              r"|(?:that'?s|that is|this is|very|so|really) (?:helpful|useful|great|perfect)|that help(?:s|ed)"
              r"|(?:so|very) much|a lot|again|a million|for (?:the|your) help|for helping",
    "goodbye": r"bye+|goodbye|bye bye|see (?:you|ya)|have a (?:good|nice|great) (?:day|one|evening|weekend)|take care"
               r"|that'?s (?:all|it)|that is (?:all|it)|nothing else|(?:all|i'?m) (?:good|set|done)|no more questions",
    "ack": r"ok(?:ay)? then|ok(?:ay)?|k|great|perfect|cool|awesome|nice|lovely|brilliant|got it|understood|alright|all right|sounds good"
           r"|noted|fine|sure|wonderful|excellent",
}
_ORDER = ("goodbye", "thanks", "greeting", "ack")
_ANY = re.compile("|".join(f"(?P<{k}>\\b(?:{p})\\b)" for k, p in _PHRASES.items()), re.I)
_FILLER = re.compile(r"[\s,.!?;:()\-–—~*'\"]+|[:;]-?[)(DPp]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]+")


def social_kind(text: str) -> str | None:
    """``greeting``, ``thanks``, ``goodbye`` or ``ack`` when the message is only social, else None."""
    if not text or len(text.split()) > MAX_WORDS:
        return None
    kinds, end = set(), 0
    for match in _ANY.finditer(text):
        if _FILLER.sub("", text[end:match.start()]):
            return None  # a word that is not social
        kinds.add(match.lastgroup)
        end = match.end()
    if not kinds or _FILLER.sub("", text[end:]):
        return None
    return next(kind for kind in _ORDER if kind in kinds)
