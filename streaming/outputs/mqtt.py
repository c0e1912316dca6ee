"""MQTT (paho-mqtt): events, a retained state per camera, an availability topic with a last will, and optional
Home Assistant discovery.

Topics (`prefix` defaults to "actionstream"):
- `<prefix>/<camera>/event`: each alert / clip event as JSON (QoS 1 by default, not retained);
- `<prefix>/<camera>/state`: retained JSON `{"online", "state", "label", "score", "person", "time"}`, so a client
  that connects later sees every camera's current state at once;
- `<prefix>/availability`: retained "online" while the monitor runs; the broker publishes the last will
  "offline" when the monitor dies without saying goodbye, and a clean close says "offline" itself;
- with `home_assistant`: retained discovery configs under `<discovery_prefix>/...` (an action sensor, a person
  and an online binary sensor per camera), all tied to the availability topic.

paho reconnects by itself with backoff; events published meanwhile (QoS >= 1) wait in its bounded queue
(`max_queued`) and go out on reconnect, so a broker restart loses none of them. publish() never blocks.

    mqtt = MqttOutput(host="127.0.0.1", port=1883, cameras=["door"])
    mqtt.set_state("door", {"online": True, "label": "Walk", "score": 0.9, "person": True})
    mqtt.publish({"type": "alert", "camera": "door", "action": "Fall"})
    mqtt.close()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

import paho.mqtt.client as paho

from streaming.outputs import event_json

log = logging.getLogger("actionstream")

ONLINE = "online"
OFFLINE = "offline"
#: paho's reconnect backoff: first retry after 1 s, doubling to at most this.
RECONNECT_MAX_S = 30


class MqttOutput:
    """One paho client for the monitor: events, retained camera states, availability and discovery."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        cameras: Sequence[str] = (),
        username: str = "",
        password: str = "",
        client_id: str = "actionstream-monitor",
        topic_prefix: str = "actionstream",
        keepalive_s: int = 30,
        qos: int = 1,
        max_queued: int = 10_000,
        home_assistant: bool = False,
        discovery_prefix: str = "homeassistant",
        kinds: tuple[str, ...] | None = None,
    ):
        self.host, self.port = host, port
        self.cameras = list(cameras)
        self.prefix = topic_prefix
        self.qos = qos
        self.home_assistant = home_assistant
        self.discovery_prefix = discovery_prefix
        self.kinds = kinds
        self.connected = threading.Event()
        self.refused = 0  # events paho's full queue refused
        self._states: dict[str, dict] = {}
        self._lock = threading.Lock()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username:
            client.username_pw_set(username, password or None)
        client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.max_queued_messages_set(max_queued)
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(host, port, keepalive=keepalive_s)
        client.loop_start()

    @property
    def availability_topic(self) -> str:
        return f"{self.prefix}/availability"

    def event_topic(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/event"

    def state_topic(self, camera: str) -> str:
        return f"{self.prefix}/{camera}/state"

    def publish(self, event: dict) -> None:
        """An event on its camera's event topic (queued by paho while the broker is away)."""
        if self.kinds is not None and event.get("type") not in self.kinds:
            return
        camera = str(event.get("camera", ""))
        if not camera:
            return
        self._publish(self.event_topic(camera), event_json(event), retain=False)

    def set_state(self, camera: str, state: dict) -> None:
        """The camera's current state, retained; sent only when it changed."""
        with self._lock:
            if self._states.get(camera) == state:
                return
            self._states[camera] = dict(state)
        self._publish(self.state_topic(camera), event_json(state), retain=True)

    def close(self, timeout_s: float = 5.0) -> None:
        """Say every camera and the monitor are offline, then disconnect (so no last will is needed)."""
        if self.connected.is_set():
            infos = []
            with self._lock:
                states = {cam: {**st, "online": False} for cam, st in self._states.items()}
            for cam, st in states.items():
                infos.append(self._client.publish(self.state_topic(cam), event_json(st), qos=1, retain=True))
            infos.append(self._client.publish(self.availability_topic, OFFLINE, qos=1, retain=True))
            for info in infos:
                try:
                    info.wait_for_publish(timeout=timeout_s / max(1, len(infos)))
                except (RuntimeError, ValueError):
                    break  # the connection went meanwhile: the last will says offline
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho's network thread -----------------------------------------------------------------------------

    def _publish(self, topic: str, payload: str, retain: bool) -> None:
        info = self._client.publish(topic, payload, qos=self.qos, retain=retain)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            self.refused += 1
            log.warning("mqtt %s:%d: send queue full; an event to %s was dropped", self.host, self.port, topic)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        if self.home_assistant:
            for camera in self.cameras:
                for topic, config in self.discovery(camera):
                    client.publish(topic, json.dumps(config), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def discovery(self, camera: str) -> list[tuple[str, dict]]:
        """Home Assistant MQTT discovery configs for one camera: (topic, config) pairs."""
        uid = f"actionstream_{camera}"
        device = {"identifiers": [uid], "name": f"actionstream {camera}", "manufacturer": "actionstream"}
        common = {
            "state_topic": self.state_topic(camera),
            "availability_topic": self.availability_topic,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": device,
        }
        base = f"{self.discovery_prefix}"
        return [
            (
                f"{base}/sensor/{uid}/action/config",
                {
                    **common,
                    "name": "Action",
                    "unique_id": f"{uid}_action",
                    "value_template": "{{ value_json.label if value_json.label else 'none' }}",
                    "json_attributes_topic": self.state_topic(camera),
                    "icon": "mdi:run",
                },
            ),
            (
                f"{base}/binary_sensor/{uid}/person/config",
                {
                    **common,
                    "name": "Person",
                    "unique_id": f"{uid}_person",
                    "device_class": "occupancy",
                    "value_template": "{{ 'ON' if value_json.person else 'OFF' }}",
                },
            ),
            (
                f"{base}/binary_sensor/{uid}/online/config",
                {
                    **common,
                    "name": "Camera online",
                    "unique_id": f"{uid}_online",
                    "device_class": "connectivity",
                    "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
                },
            ),
        ]
