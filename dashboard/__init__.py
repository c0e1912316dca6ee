"""The Gradio dashboard over the shared streaming engine; `demo_app.py` is its entry point.

One module per tab or concern; the package imports nothing of the project but `streaming`:

    app.py            Dashboard (the handlers, built once) and build_ui (the page's layout and wiring)
    hub.py            Hub: the engine, the browser sessions, and the one loop that follows streams for a page
    session.py        Session: one browser tab's alert rule, webcam, Stop signals and skeleton toggle
    view.py           StreamView (one stream as a page shows it) and annotate (the frame with label and person)
    live_outputs.py   the Live tab's five outputs, sent only when changed
    live.py           the Live tab: a clip, a camera URL or an upload, followed until Stop
    webcam.py         the browser's webcam into a PushSource, at twice the bundle's feature rate
    cameras.py        the Cameras tab: several cameras at once, a tile and a table row each
    alerts.py         alert rules, episodes and the JSON-lines alert log
    alerts_tab.py     the Alerts tab: a tab's rule from the page
    api.py            the HTTP API for programs: /classify and /model
    model_tab.py      the Model tab and the line under the title
    sources.py        SourceKind, the example clips, and a page's choice turned into a source spec
    source_policy.py  which typed sources are allowed (URL schemes, paths inside --clips)
    pose.py           pose bundles: does the extractor find people, the latest person, "no person in view"
"""
