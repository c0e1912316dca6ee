"""The page: its layout and which handler each control calls. Handlers live in the tab modules; nothing here
touches the engine.

    dash = Dashboard(engine, SourceCatalog(clips, folders), AlertLog(Path("alerts.jsonl")), Path("models/demo"))
    build_ui(dash).queue().launch(css=CSS)
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from dashboard.alerts_tab import ALERTS_OFF, DURATION_SLIDER, MAX_COOLDOWN_S, THRESHOLD_SLIDER, AlertsTab
from dashboard.api import Api
from dashboard.cameras import MAX_CAMERAS, CamerasTab
from dashboard.cluster_cameras import COLUMNS as CLUSTER_COLUMNS
from dashboard.cluster_cameras import ClusterCameras
from dashboard.hub import Hub
from dashboard.live import LiveTab
from dashboard.model_tab import model_markdown, model_summary
from dashboard.monitor_file import Kept, MonitorFileTab
from dashboard.quiet_inputs import quiet
from dashboard.session import NO_ALERTS
from dashboard.source_policy import VIDEO_SUFFIXES
from dashboard.sources import SourceCatalog, SourceKind
from dashboard.view import TIMELINE_S
from dashboard.webcam import webcam_period_s
from streaming.alerts import AlertLog
from streaming.engine import Engine

#: A webcam stream is served this long, then the user presses record again (one tab must not hold a worker).
WEBCAM_TIME_LIMIT_S = 60
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
CSS = """
#live-status, #cams-status {min-height: 2.5em}
#alert-log textarea {font-family: monospace}
"""


class Dashboard:
    """Everything the page's handlers need, built once per process around the shared engine."""

    def __init__(
        self,
        engine: Engine,
        catalog: SourceCatalog,
        alert_log: AlertLog,
        bundle_root: Path,
        cluster: ClusterCameras | None = None,
    ):
        self.engine = engine
        self.cluster = cluster  # the cameras served on a Ray cluster (demo_app.py --ray), or None
        self.catalog = catalog
        self.bundle_root = Path(bundle_root)
        self.hub = Hub(engine, alert_log)
        self.live = LiveTab(self.hub, catalog)
        self.cameras = CamerasTab(self.hub, catalog)
        self.alerts = AlertsTab(self.hub)
        self.monitor_file = MonitorFileTab(self.hub, catalog, self.alerts)
        self.api = Api(self.hub, catalog, self.bundle_root)


def class_colors(labels: list[str]) -> dict[str, str]:
    """A fixed colour per action, so a line keeps its colour while the top classes change."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def build_ui(dash: Dashboard, max_sessions: int = 8) -> gr.Blocks:
    """The page: four tabs (Live, Cameras, Alerts, Model), the alert log under them, and the API endpoints."""
    engine, hub = dash.engine, dash.hub
    clip_names = list(dash.catalog.clips)
    with gr.Blocks(title="actionstream", delete_cache=(60, 180), analytics_enabled=False) as demo:
        gr.Markdown("## actionstream: live action recognition")
        gr.Markdown(model_summary(engine, dash.bundle_root), elem_id="model-summary")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        kind = quiet(
                            gr.Radio(
                                [k.value for k in SourceKind],
                                value=SourceKind.EXAMPLE.value,
                                label="Source",
                                elem_id="source-kind",
                            )
                        )
                        example = quiet(
                            gr.Dropdown(
                                clip_names,
                                value=clip_names[0] if clip_names else None,
                                label="Example clip",
                                elem_id="example",
                            )
                        )
                        url = gr.Textbox(
                            label="Camera URL or clip path",
                            visible=False,
                            elem_id="source-url",
                            placeholder="rtsp://camera.local:8554/stream",
                        )
                        upload = gr.File(
                            label="Video file",
                            file_count="single",
                            type="filepath",
                            file_types=list(VIDEO_SUFFIXES),
                            visible=False,
                            elem_id="upload",
                        )
                        webcam = gr.Image(
                            sources=["webcam"],
                            streaming=True,
                            type="numpy",
                            label="Your webcam",
                            webcam_options=gr.WebcamOptions(mirror=False),
                            visible=False,
                            elem_id="webcam",
                        )
                        with gr.Row():
                            start = gr.Button("Start", variant="primary", elem_id="start")
                            stop = gr.Button("Stop", elem_id="stop")
                        skeleton = gr.Checkbox(
                            value=hub.finds_people,
                            label="Draw the person (skeleton and box)",
                            visible=hub.finds_people,
                            elem_id="draw-person",
                        )
                    with gr.Column(scale=2):
                        frame = gr.Image(
                            label="Live",
                            show_label=False,
                            format="jpeg",
                            interactive=False,
                            height=400,
                            elem_id="live-frame",
                        )
                        status = gr.Markdown("Pick a source and press Start.", elem_id="live-status")
                with gr.Row():
                    bars = gr.Label(
                        num_top_classes=engine.topk,
                        label=f"Top actions (smoothed; the frame's label follows a new leader after "
                        f"{engine.config.hold_s:g} s)",
                        elem_id="live-topk",
                    )
                    timeline = gr.LinePlot(
                        x="seconds",
                        y="probability",
                        color="action",
                        y_lim=[0, 1],
                        x_lim=[-TIMELINE_S, 0],
                        color_map=class_colors(hub.labels),
                        x_title="seconds before now (last minute)",
                        height=300,
                        label="Last minute",
                        show_label=False,
                        elem_id="live-timeline",
                    )
            with gr.Tab("Cameras", id="cameras"):
                cam_urls = gr.Textbox(
                    lines=4,
                    label=f"Camera URLs, one per line, optionally named: name = URL (up to {MAX_CAMERAS})",
                    placeholder="front-door = rtsp://cam1.local:8554/stream\nrtsp://cam2.local:8554/stream",
                    elem_id="cam-urls",
                )
                with gr.Row():
                    cam_start = gr.Button("Start cameras", variant="primary", elem_id="cam-start")
                    cam_stop = gr.Button("Stop cameras", elem_id="cam-stop")
                    cam_load = gr.UploadButton(
                        "Load monitor config", file_types=[".toml"], type="filepath", elem_id="cam-load"
                    )
                    cam_save = gr.Button("Save monitor config", elem_id="cam-save")
                cam_file_status = gr.Markdown(
                    "The camera list and the alert settings can be loaded from and saved as the monitor's config "
                    "file (`python -m streaming monitor --config cameras.toml`).",
                    elem_id="cam-file-status",
                )
                cam_file = gr.File(label="Monitor config", interactive=False, visible=False, elem_id="cam-file")
                kept = gr.State(Kept())  # what a loaded file holds beyond the page, saved back with it
                cam_status = gr.Markdown("", elem_id="cams-status")
                if dash.cluster is not None:  # cameras served on the Ray cluster (python -m streaming serve)
                    gr.Markdown(f"Cameras served on the Ray cluster (app `{dash.cluster.app}`):")
                    cluster_table = gr.Dataframe(
                        value=dash.cluster.table(),
                        headers=CLUSTER_COLUMNS,
                        interactive=False,
                        elem_id="cluster-cameras",
                    )
                    gr.Timer(1.0).tick(
                        dash.cluster.table, None, cluster_table, api_visibility="private", show_progress="hidden"
                    )
                tiles = []
                for row in range(0, MAX_CAMERAS, 4):
                    with gr.Row():
                        for i in range(row, row + 4):
                            tiles.append(
                                gr.Image(
                                    label=f"cam{i + 1}",
                                    show_label=False,
                                    format="jpeg",
                                    interactive=False,
                                    visible=False,
                                    height=240,
                                    elem_id=f"cam-tile-{i}",
                                )
                            )
            with gr.Tab("Alerts", id="alerts"):
                with gr.Row():
                    actions = gr.CheckboxGroup(hub.labels, label="Alert on these actions", elem_id="alert-actions")
                    with gr.Column():
                        threshold = gr.Slider(
                            THRESHOLD_SLIDER.low,
                            THRESHOLD_SLIDER.high,
                            value=0.8,
                            step=THRESHOLD_SLIDER.step,
                            label="Threshold (smoothed score)",
                            elem_id="alert-threshold",
                        )
                        min_duration = gr.Slider(
                            DURATION_SLIDER.low,
                            DURATION_SLIDER.high,
                            value=2.0,
                            step=DURATION_SLIDER.step,
                            label="Minimum duration (s)",
                            elem_id="alert-duration",
                        )
                        cooldown = quiet(
                            gr.Number(
                                value=0.0,
                                minimum=0.0,
                                maximum=MAX_COOLDOWN_S,
                                label="Cooldown after an alert (s, per camera)",
                                elem_id="alert-cooldown",
                            )
                        )
                        snapshot = gr.Checkbox(
                            label="Save a snapshot of the frame", value=False, elem_id="alert-snapshot"
                        )
                alert_rule = gr.Markdown(ALERTS_OFF, elem_id="alert-rule")
            with gr.Tab("Model", id="model"):
                gr.Markdown(model_markdown(engine, dash.bundle_root), elem_id="model-info")
                with gr.Accordion("Full provenance and parity (manifest.json)", open=False):
                    gr.JSON({"provenance": engine.manifest.provenance, "parity": engine.manifest.parity})
        alert_log = gr.Textbox(
            label="Alert events (this page)",
            value=NO_ALERTS,
            lines=4,
            max_lines=12,
            interactive=False,
            elem_id="alert-log",
        )
        live = dash.live
        kind.change(live.choose_kind, kind, [example, webcam, url, upload], queue=False, api_visibility="private")
        skeleton.change(live.set_skeleton, skeleton, None, queue=False, api_visibility="private")
        live_outputs = [frame, bars, timeline, status, alert_log]
        start.click(
            live.run,
            [kind, example, url, upload],
            live_outputs,
            api_name="start",
            concurrency_limit=max_sessions,
            concurrency_id="live",
            show_progress="hidden",
            trigger_mode="multiple",  # Start while a stream runs switches to the source now chosen
        )
        cam_stream = webcam.stream(
            live.webcam.frame,
            [webcam],
            live_outputs,
            stream_every=webcam_period_s(engine.manifest.sampling.feature_rate),
            time_limit=WEBCAM_TIME_LIMIT_S,
            concurrency_limit=max_sessions,
            show_progress="hidden",
            api_visibility="private",
        )
        # Stop cancels only the webcam's frame stream; the live and camera generators end themselves (see Session)
        stop.click(live.stop, None, status, cancels=[cam_stream], api_name="stop", show_progress="hidden").then(
            live.stopped, None, status, api_visibility="private", show_progress="hidden"
        )
        cam_start.click(
            dash.cameras.run,
            cam_urls,
            [cam_status, *tiles, alert_log],
            api_name="cameras",
            concurrency_limit=max(1, max_sessions // 2),
            show_progress="hidden",
        )
        cam_stop.click(dash.cameras.stop, None, cam_status, api_visibility="private", show_progress="hidden")
        rule_inputs = [actions, threshold, min_duration, snapshot, cooldown]
        for comp in rule_inputs:
            # one queue for the rule's inputs: changes apply in the order they were made, the last one wins.
            # `input`, not `change`: a loaded file sets the rule itself, and the change events its new values
            # would fire carry stale values of inputs on a tab not yet opened (Gradio mounts tabs lazily)
            comp.input(
                dash.alerts.set_rule,
                rule_inputs,
                alert_rule,
                api_visibility="private",
                concurrency_id="alert-rule",
                concurrency_limit=1,
            )
        # loading sets the rule too, so it joins the rule's queue
        cam_load.upload(
            dash.monitor_file.load,
            [cam_load, snapshot],
            [cam_urls, actions, threshold, min_duration, cooldown, alert_rule, kept, cam_file_status],
            api_visibility="private",
            concurrency_id="alert-rule",
            concurrency_limit=1,
        )
        cam_save.click(
            dash.monitor_file.save,
            [cam_urls, actions, threshold, min_duration, cooldown, kept],
            [cam_file, cam_file_status],
            api_visibility="private",
        )
        api_source = gr.Textbox(visible=False)
        api_seconds = quiet(gr.Number(visible=False))
        api_result = gr.JSON(visible=False)
        gr.Button(visible=False).click(
            dash.api.classify, [api_source, api_seconds], api_result, api_name="classify", concurrency_limit=4
        )
        gr.Button(visible=False).click(dash.api.model_info, None, api_result, api_name="model")
        demo.unload(hub.close_session)
    return demo
