"""The pure core: records, names, countries, field rules, matching and the sync planner.

Takes records and returns data: no HTTP, no database, no widgets (an import contract checks it).
"""
