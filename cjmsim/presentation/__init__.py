"""The presentation layer: charts, HTML reports and the generated reference docs.

Chart functions take an analysis' result and return matplotlib Figures; reports render one
self-contained HTML page from a jinja2 template with autoescaping. Nothing here simulates.

In one look, bottom up (a module imports only those above it, and only their public names):

- :mod:`.format`: every number as a reader wants it (counts, money, percentages, ratios, CI
  half-widths), pure functions shared by charts, reports and the terminal;
- :mod:`.comparison`: a run's plan comparison rows (labels from the metric registry) and plan totals;
- :mod:`.optimize_text`, :mod:`.calibration_text`: the sentences of an optimization and of a
  calibration (headlines, chart titles), so a report and its charts cannot disagree;
- :mod:`.style`: the one chart style: palette, :func:`~.style.plan_colours` (a plan's colour is its
  place in the scenario's plan order, in every chart), the figure factory, axis helpers;
- :mod:`.charts`: ``run``, ``sweep``, ``attribution``, ``optimize``, ``calibrate``: one module per analysis;
- :mod:`.reports`: ``html`` (environment, images, cells, atomic write), then one module per
  analysis, each rendering ``templates/<report>.html.j2``, which extends ``templates/base.html.j2``;
- :mod:`.schema_doc`: the scenario and experiment references, generated from the models.
"""
