"""The agent: a bounded plan-act-observe loop that answers from what the asker may read.

::

    question ─ Reasoner.next_action ─┬─ Plan ──────────────┐
                                     ├─ Search ─ Toolbox ──┤ observe (AgentState)
                                     ├─ OpenPassage ───────┤
                                     ├─ ListSources ───────┘
                                     └─ Finish ─ Reasoner.compose ─ ground ─ freshness ─ AgentResult

Every tool runs as the asking :class:`core.acl.Principal` (a :class:`index.types.SearchFilter`
is built from it once, in :class:`agent.tools.Toolbox`). Retrieved text is data: reasoners plan
from the question and from scores and ids, never from document text (see :mod:`agent.text`).
"""
