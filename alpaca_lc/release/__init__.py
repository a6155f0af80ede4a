"""Release: the gate that passes, fails or leaves inconclusive a model release, and its summaries
(Markdown, JSON, JUnit).

May import: `annotation` (to judge a release), `scoring`, `records`, `stats`, `config`, `errors`.
"""
