"""The report: results.json contract, wording, tables, figures and HTML/PDF rendering.

Only ``render.py`` imports papermill, nbconvert and WeasyPrint.
"""
