"""The live what-if page of ``cjmsim serve``: a local web server over :mod:`cjmsim.analyses.whatif`.

:mod:`.requests` validates every request, :mod:`.jobs` runs the simulations on one bounded worker with
generations (a newer edit obsoletes older runs), :mod:`.payload` formats what the page shows,
:mod:`.app` is the Starlette application, :mod:`.server` binds the socket and runs it under uvicorn
until Ctrl-C. The page's script and stylesheet are ``static/``; its page ``templates/serve.html.j2``.
"""
