"""The customer's tone: sentiment (negative, neutral, positive) and urgency (high, normal), with the cues that fired.

    >>> t = ToneReader()
    >>> [t.read(m).sentiment for m in ("I still haven't received my refund", "thanks for nothing", "you guys rock, thanks!")]
    ['negative', 'negative', 'positive']
    >>> r = t.read("I was charged twice and this is the third time I ask!!!")
    >>> r.urgency, r.cues
    ('high', ['money', 'repeat', 'shouting'])

The offline default is VADER (the ``vaderSentiment`` package and its lexicon), adjusted for support language:

- complaints without a negative word count as negative ("still haven't received", "third email about this",
  "where is my refund");
- sarcasm and negated praise do not count as praise ("thanks for nothing", "great, another lost parcel",
  "not exactly helpful");
- thanks on a plain question is polite, not positive.

Urgency cues: money taken wrongly (charged twice, unauthorised, fraud), security (hacked, locked out), repeated
contact ("third time I ask"), a deadline ("by Friday", "flight tomorrow"), threats (chargeback, lawyer, cancel
everything) and shouting (capitals, "!!!"). Urgency is high when a cue of ``URGENT_CUES`` fires; shouting alone
makes a message negative, not urgent ("WHY IS THE FONT SO SMALL!!!"), and thanks for a problem already sorted out
is neither. The rules were chosen on the development part of ``knowledge_base/tone_set.yaml``. A learned classifier (``nlu.sentiment_model`` / ``nlu.urgency_model``: a folder trained by
``python -m training.finetune_intent --label-column sentiment ...``) replaces the lexicon when it is given.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from pipeline.types import Tone

_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_WHEN = (rf"(?:today|tonight|tomorrow|this (?:week(?:end)?|evening|afternoon)|(?:on |by |this |next )?{_DAY}|in (?:an|one|\d+) hours?"
         r"|christmas(?: eve)?|the \d{1,2}(?:st|nd|rd|th)|end of (?:the )?(?:day|week|month))")
CUES: dict[str, re.Pattern[str]] = {
    "money": re.compile(
        r"\b(?:charged|billed) (?:me )?(?:twice|two times|double|again)\b|\bdouble(?:d)?[- ]?(?:charg|bill)\w*|\b(?:charged|billed) \w+ times\b"
        r"|\bunauthori[sz]ed\b|\bfraud\w*|\bscam\w*|\bstolen\b|\b(?:charge|payment)s?\b[^.!?]{0,40}\b(?:didn'?t|did not|never) (?:make|authori[sz]e)"
        r"|\b(?:took|taken|kept|keeping) (?:the |my )?(?:money|\$\d)|\btwo (?:identical )?charges\b|\bstill (?:being )?(?:charg|bill)\w*"
        r"|\b(?:charged|billed)\b[^.!?]{0,50}\b(?:even though|although|after i|though i|when i|i (?:had )?(?:already )?cancell?ed|instead of)\b"
        r"|\bbill(?:ed)? me\b[^.!?]{0,30}\bagain\b", re.I),
    "security": re.compile(
        r"\bhack\w*|\bphishing\b|\bsomeone(?:'s| is| has| else)?\b[^.!?]{0,15}\b(?:in|into|logged into|got into|using) my (?:account|card)\b"
        r"|\bsuspicious (?:login|email|text|sign)|\blocked out of\b|\bcompromised\b|\bsecurity code\b|\bidentity theft\b"
        r"|\b(?:changed|was changed|were changed)\b[^.!?]{0,40}\b(?:did not|didn'?t|never)\b|\bi (?:never|didn'?t) (?:wrote|write|request|make|change|order)\w*"
        r"|\bnot me\b|\bi'?ve never seen\b", re.I),
    "repeat": re.compile(
        r"\b(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) (?:time (?:i|asking|now)|email|message|call|request|complaint|attempt to reach)\b"
        r"|\b(?:called|emailed|written|wrote|asked|contacted|chatted|messaged|complained|reported|unsubscribed)\b[^.!?]{0,25}\b(?:twice|(?:\d+|two|three|four|five|several|multiple|many) times)\b"
        r"|\bfor the \w+ time\b|\bno one (?:has )?(?:replied|answered|got back|responded)\b|\bnobody (?:has )?(?:replied|answered|responded)\b"
        r"|\bagain and again\b|\bkeep (?:asking|calling|emailing)\b|\bstill (?:no|nothing) (?:reply|answer|response)\b", re.I),
    "deadline": re.compile(
        rf"\b(?:urgent\w*|asap|immediately|right (?:now|away)|deadline|time.?sensitive)\b"
        rf"|\b(?:flight|flying|wedding|funeral|surgery|exam|birthday|party|housewarming|event|catering|trip|leaving for|moving)\b[^.!?]{{0,60}}\b{_WHEN}\b"
        rf"|\b{_WHEN}\b[^.!?]{{0,60}}\b(?:flight|flying|wedding|funeral|birthday|party|housewarming|event|catering|trip)\b"
        rf"|\b(?:need|needs|must|have to|has to|got to)\b[^.!?]{{0,50}}\b(?:{_WHEN}|before|in time)\b"
        rf"|\b(?:before|by|in time for)\s+(?:it ships )?{_WHEN}\b|\b(?:closes|ends|expires|runs? out|opens|ships)\b[^.!?]{{0,25}}\b{_WHEN}\b"
        rf"|\bends in an hour\b|\bbefore it expires\b|\bfix (?:this|it) now\b|\b{_WHEN}\b[^.!?]{{0,40}}\bneed (?:to|it|this)\b", re.I),
    "threat": re.compile(
        r"\bchargeback\b|\bdispute (?:the|this) (?:charge|payment)\b|\blawyer\b|\blegal action\b|\bsue\b|\bcourt\b"
        r"|\bbetter business bureau\b|\bbbb\b|\breport(?:ing)? you\b|\bconsumer protection\b|\bcancel (?:everything|my membership and)\b"
        r"|\bnever (?:order|ordering|shop|shopping|buying|buy) (?:from you|here|again)\b|\bdone with you\b|\btaking my business\b|\btelling everyone\b", re.I),
}
URGENT_CUES = ("money", "security", "repeat", "deadline", "threat")
_RESOLVED = re.compile(r"\b(?:thanks?|thank you)(?: so much| a lot)? for (?:sorting|fixing|resolving|refunding|the quick|being|sending|handling)\b"
                       r"|\b(?:was|got|has been) (?:sorted|fixed|resolved|refunded)\b[^.!?]{0,30}\b(?:thanks?|thank you|great|fast|quick)", re.I)
# VADER entries that misread support language: "PO box" is not "pissed off".
_LEXICON = {"po": 0.0}
_SHOUT_WORD = re.compile(r"\b[A-Z]{3,}\b")
_COMPLAINT = re.compile(
    r"\bstill (?:haven'?t|hasn'?t|not|no|waiting|nothing)\b|\bnever (?:arrived|received|came|got)\b|\bhaven'?t (?:received|got|heard)\b"
    r"|\bhasn'?t (?:arrived|come|shown)\b|\b(?:where|what happened to) (?:is )?my (?:refund|money)\b|\bnothing (?:on|in|at|arrived)\b"
    r"|\b(?:second|third|fourth|\d+(?:rd|th)) (?:time|email|message|complaint)\b|\bstopped working\b|\bgot into my\b|\bsomeone'?s in my\b"
    r"|(?<!\bi )(?<!\bi )\b(?:sent|gave|shipped|charged) me the wrong\b|\bwrong (?:item|size|colou?r|amount)\b(?![^.!?]{0,20}\bmy (?:fault|mistake))"
    r"|\b(?:broken|damaged|cracked|smashed|stained|gouged|ruined)\b|\bcharged (?:twice|two times|again|double)\b|\bbilled (?:twice|again)\b"
    r"|\bnot (?:working|arrived|received|happy|impressed|great|good|helpful|ok|okay)\b|\bwon'?t let me\b|\bkeeps? (?:sending|failing|saying|getting)\b"
    r"|\bwaste of\b|\bunacceptable\b|\bridiculous\b|\bworst\b|\bdisappoint\w*|\bfrustrat\w*|\bannoy\w*|\bupset\b|\bfed up\b|\benough\b"
    r"|\bnone of your business\b|\bin circles\b|\bunderstood nothing\b|(?<!will i )(?<!would i )(?<!do i )(?<!can i )\bstill (?:took|charg|email|get|sending)\w*|\bagain\b[^.!?]{0,10}[.!]"
    r"|\buseless\b|\bnot cool\b|\bwon'?t (?:it|let|take|accept|work|load|open)\b|\b(?:squashed|dented|scratched|torn|leaking)\b"
    r"|\b(?:nothing|no) (?:back|reply|response|answer)\b|\bnobody (?:has )?(?:replied|answered|responded|helped)\b|\bhasn'?t moved\b"
    r"|\bnever (?:shows?|showed) up\b|\bnever got\b|\bdidn'?t (?:get|receive|arrive)\b|\bdone with you\b|\bsomeone (?:is )?in my\b"
    r"|\blocked out\b|\bfix (?:this|it) now\b", re.I)
_POLITE_CALM = re.compile(r"\b(?:would you (?:be so kind|mind)|could you (?:please|kindly)|kindly|i would (?:be grateful|appreciate)|"
                          r"dear (?:team|northwind|sir|madam)|good (?:morning|afternoon|evening)|many thanks|thank you in advance)\b", re.I)
_SARCASM = re.compile(
    r"^\W*(?:oh|wow|ah)\b[\s,!.]*(?:great|perfect|lovely|wonderful|love|brilliant|fantastic|sure|joy|nice|super)\b"
    r"|\b(?:great|fantastic|wonderful|brilliant|perfect|lovely|super)[,!.]*\s+(?:another|yet another)\b|\bthanks? (?:a lot )?for nothing\b"
    r"|\btruly a masterpiece\b|\bso generous of you\b|\breally loving the\b|\bcan'?t wait\b[^.!?]{0,40}\b(?:till|until|floor)\b"
    r"|\byeah right\b|\bwhat a joy\b", re.I)
_NEGATED_PRAISE = re.compile(r"\b(?:wasn'?t|isn'?t) exactly\b|\bnot (?:the )?(?:most|smoothest|best|easiest|clearest|a fan|very|exactly|really|that|so|particularly)\b"
                             r"|\bhardly\b|\bso much for\b|\bnot (?:exactly|very|really|that) (?:helpful|great|good|impressive|fast|quick|painless|seamless|generous)\b", re.I)
_PRAISE_WORDS = re.compile(r"\b(?:love|loved|great|wonderful|fantastic|brilliant|perfect|lovely|awesome|amazing|outstanding|super|"
                           r"excellent|generous|classy|masterpiece|respectful|friendly|thanks a lot|well done|oh sure)\b", re.I)
_GENUINE = re.compile(r"\b(?:love|loved|loving|great|amazing|awesome|brilliant|excellent|fantastic|happy|so helpful|you rock|rock|"
                      r"well done|so handy|appreciated|impressed|kind|lifesaver|fab|gorgeous|generous|perfectly|wonderful|delighted|"
                      r"thanks?(?: so much| a lot)? for (?:the|being|sending|making|sorting|fixing|resolving|refunding|handling)|quick|fast|super|perfect)\b"
                      r"|\b(?:thank you|thanks)(?: so much)?!", re.I)
_SELF_INFLICTED = re.compile(r"\bi (?:put|typed|entered|picked|chose|ordered|selected|used)\b[^.!?]{0,15}\bwrong\b|\bmy (?:fault|mistake|bad)\b", re.I)


def _sentiment(analyzer, text: str) -> tuple[str, float]:
    compound = float(analyzer.polarity_scores(text)["compound"])
    complaint = _COMPLAINT.search(text) is not None and not _SELF_INFLICTED.search(text)
    if _RESOLVED.search(text) and compound > 0:
        return "positive", compound  # thanks for a problem already sorted out
    if _SARCASM.search(text) or _NEGATED_PRAISE.search(text) or (complaint and _PRAISE_WORDS.search(text)) or shouting(text):
        return "negative", min(compound, -0.3)  # sarcasm, negated praise, praise words on a complaint, shouting
    if complaint and not (_POLITE_CALM.search(text) and compound >= 0):
        return "negative", min(compound, -0.2)  # a problem report is negative, unless written calmly and politely
    if compound <= -0.45:
        return "negative", compound
    if compound >= 0.3 and _GENUINE.search(_POLITE_CALM.sub(" ", text)):  # "would you be so kind" is not praise
        return "positive", compound
    return "neutral", compound


def shouting(text: str) -> bool:
    words = re.findall(r"[A-Za-z]{3,}", text)
    caps = len(_SHOUT_WORD.findall(text))
    return "!!!" in text or (len(words) >= 3 and caps >= 2 and caps / len(words) >= 0.5)


class ToneReader:
    """Lexicon tone reader (VADER + the rules above); ``read`` is pure and takes well under a millisecond."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.analyzer.lexicon.update(_LEXICON)

    def read(self, text: str) -> Tone:
        sentiment, score = _sentiment(self.analyzer, text)
        cues = [] if _RESOLVED.search(text) else [name for name, pattern in CUES.items() if pattern.search(text)]
        if shouting(text):
            cues.append("shouting")
        urgent = any(c in URGENT_CUES for c in cues)
        return Tone(sentiment=sentiment, sentiment_score=round(score, 4), urgency="high" if urgent else "normal", cues=cues)

    def run(self, texts: Sequence[str]) -> list[Tone]:
        return [self.read(t) for t in texts]


class LearnedTone:
    """Sentiment and/or urgency from fine-tuned classifier folders (labels negative/neutral/positive, high/normal);
    the lexicon fills what no model is given, and gives the cues."""

    def __init__(self, sentiment_model: str | None = None, urgency_model: str | None = None, batch_size: int = 16,
                 runtime: str = "torch") -> None:
        from pipeline.nlu.classifier import IntentClassifier

        self.lexicon = ToneReader()
        self.models: dict[str, Any] = {name: IntentClassifier(path, top_k=1, batch_size=batch_size, runtime=runtime)
                                       for name, path in (("sentiment", sentiment_model), ("urgency", urgency_model)) if path}

    def warm_up(self) -> None:
        from pipeline.errors import ModelLoadError

        allowed = {"sentiment": {"negative", "neutral", "positive"}, "urgency": {"high", "normal"}}
        for name, model in self.models.items():
            model.warm_up()
            if not set(model.labels) <= allowed[name]:
                raise ModelLoadError(f"The {name} model {model.model!r} predicts {sorted(model.labels)}; a {name} model must "
                                     f"predict {', '.join(sorted(allowed[name]))}. Train it with --label-column {name}.")

    def run(self, texts: Sequence[str]) -> list[Tone]:
        tones = self.lexicon.run(texts)
        for name, model in self.models.items():
            for tone, pred in zip(tones, model.run(list(texts), threshold=0.0)["predictions"]):
                setattr(tone, name, pred.label)
                if name == "sentiment":
                    tone.sentiment_score = round(pred.confidence, 4)
                tone.source = "model"
        return tones
