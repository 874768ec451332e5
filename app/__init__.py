"""The pygame app: a live Pymunk scene beside a model's prediction, a scene editor, a job runner, a gallery.

Start it with `physics-llm app` or `python -m app`. Nothing here touches pygame at import
time; `app.cli.run_app` initialises it and `app.control.Control` runs the loop.
"""
