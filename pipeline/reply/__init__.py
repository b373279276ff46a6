"""Reply stage: the grounded realizer, the seq2seq generator, prompts, guardrails, clarify and hand-off replies.

- :mod:`pipeline.reply.generators`: :class:`GeneratorConfig`, :func:`build_generator`, :class:`Seq2SeqGenerator`
- :mod:`pipeline.reply.grounded`: the model-free ``grounded`` realizer and the clarification / hand-off replies
- :mod:`pipeline.reply.prompts`: the seq2seq prompt and how it is cut to the token budget
- :mod:`pipeline.reply.guardrails`: the post-generation checks and the fallback rule
"""
