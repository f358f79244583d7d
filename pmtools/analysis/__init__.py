"""What a person reads: explanations, link suggestions, the pairs views, reports, run history.

Builds on the core and reads the state store; never talks to Liscio or IPM.
"""
