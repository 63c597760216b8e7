"""Backstamp Beam job: pure format modules (tags, prompt, parse, dates, records, schemas, evaluate) and the job around them."""
