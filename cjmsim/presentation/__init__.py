"""The presentation layer: charts, HTML reports and the generated reference docs.

Chart functions take an analysis' result and return matplotlib Figures; reports render one
self-contained HTML page from a jinja2 template with autoescaping. Nothing here simulates.
"""
