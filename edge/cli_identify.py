"""``edge-identify``: name the faces a camera, a video or photos show."""
from __future__ import annotations

import json
import sys
import time

import click

from edge.cli_common import (bundle_options, fail, gallery_option, match_options, open_bundle,
                             open_matcher)
from edge.cli_errors import OneLine
from edge.pipeline import REEMBED, SCAN_EVERY


@click.command(cls=OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--camera", is_flag=False, flag_value="auto", default=None, metavar="[N|pi]",
              help="Live camera: the Pi camera (picamera2) when present, else USB camera N (default 0).")
@click.option("--video", metavar="PATH|URL", help="A video file, or an RTSP/HTTP stream.")
@click.option("--images", metavar="PATH|DIR|GLOB", help="A photo, a folder of photos, or a glob.")
@bundle_options
@match_options
@gallery_option
@click.option("--every", default=3, show_default=True,
              help="Run detection on every Nth frame; faces are tracked in between.")
@click.option("--max-faces", default=5, show_default=True, help="Faces identified per frame.")
@click.option("--min-face", default=40, show_default=True, help="Smallest face side in pixels.")
@click.option("--max-face", type=int, help="Largest face side in pixels (spares the detector's "
                                            "smallest pyramid levels); default: any.")
@click.option("--scan-every", default=SCAN_EVERY, show_default=True,
              help="Scan the whole frame every Nth detection (and whenever a face is lost); in "
                   "between, look only around the faces followed. 1: always the whole frame.")
@click.option("--reembed", default=REEMBED, show_default=True,
              help="Embed a face whose name has settled every Nth detection, or at once when it "
                   "changes. 1: every face at every detection.")
@click.option("--votes", default=5, show_default=True, help="Identifications a track's name is voted over.")
@click.option("--size", default="640x480", show_default=True, help="Camera frame size WxH.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per frame on stdout.")
@click.option("--save-video", type=click.Path(dir_okay=False), help="Write the frames with boxes and names (MP4).")
@click.option("--stats", is_flag=True, help="Print per-stage latency (p50, p95) and frames per second at exit.")
@click.option("--max-frames", type=int, help="Stop after this many frames.")
@click.option("--serve", metavar="[HOST:]PORT", help="Also serve the live view and control panel (needs the web extra).")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="PATH",
              help="Read the access token for --serve from this file, e.g. "
                   "$CREDENTIALS_DIRECTORY/edge-token under systemd's LoadCredential=.")
@click.option("--token", envvar="EDGE_TOKEN",
              help="Access token for --serve on a non-local address. On the command line it "
                   "is visible to every user of this machine (ps); prefer --token-file or the "
                   "EDGE_TOKEN environment variable. Without any, one is made and saved "
                   "next to the gallery.")
@click.option("--mqtt", "mqtt_url", metavar="URL",
              help="Also publish each decision to an MQTT broker, with Home Assistant discovery: "
                   "mqtt://[USER[:PASSWORD]@]HOST[:PORT] (mqtts:// for TLS); the password may "
                   "come from EDGE_MQTT_PASSWORD instead (needs the mqtt extra; "
                   "docs/home-assistant.md).")
@click.option("--camera-name", metavar="NAME", help="This camera's name in MQTT topics and Home "
                                                     "Assistant (default: the host name).")
@click.option("--mqtt-prefix", default="siamese-edge", show_default=True,
              help="The first level of every MQTT topic.")
@click.option("--no-sightings", is_flag=True,
              help="Keep no sightings. By default each face whose name settles (or changes) is "
                   "kept in the gallery with its face crop, for 30 days and 10,000 at most, to "
                   "list and correct: edge-gallery sightings, assign, reject.")
def main(camera, video, images, bundle, variant, threads, fpir, threshold, gallery, every, max_faces,
         min_face, max_face, scan_every, reembed, votes, size, as_json, save_video, stats,
         max_frames, serve, token_file, token, mqtt_url, camera_name, mqtt_prefix, no_sightings):
    """Identify faces from a camera, a video or photos against the gallery.

    \b
    Examples:
      edge-identify --camera                 # Pi camera, or USB camera 0
      edge-identify --video clip.mp4 --json  # one JSON object per frame
      edge-identify --images photos/ --every 1
      edge-identify --camera --mqtt mqtt://ha@homeassistant.local --camera-name door
    """
    from edge.pipeline import Pipeline
    from edge.sources import SourceError, open_source

    if token_file is not None:
        if click.get_current_context().get_parameter_source("token").name == "COMMANDLINE":
            fail("use either --token or --token-file, not both")
        token = None   # the file wins over EDGE_TOKEN
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        fail(f"--size {size}: expected WIDTHxHEIGHT, e.g. 640x480")
    from edge.sightings import camera_name as host_name

    camera_name = camera_name or host_name()   # in the sightings kept and the MQTT topics
    broker = _mqtt_broker(mqtt_url, camera_name, mqtt_prefix) if mqtt_url else None
    b = open_bundle(bundle, variant, threads)
    matcher = open_matcher(gallery, b, threshold, fpir, create=bool(serve))
    pipeline = Pipeline(b, matcher, threads=threads, every=every, max_faces=max_faces,
                        min_face=min_face, max_face=max_face, votes=votes,
                        stills=images is not None, scan_every=scan_every, reembed=reembed)
    try:
        source = open_source(camera, video, images, (width, height))
    except SourceError as exc:
        fail(str(exc))
    if images is not None:   # an unreadable photo is said and skipped; the rest are read
        source.on_error = lambda message: click.echo(f"Error: {message}", err=True)
    sightings = None
    if not no_sightings:
        from edge.sightings import SightingsOutput
        sightings = SightingsOutput(gallery, b.sha256, camera_name,
                                    tell=lambda line: click.echo(line, err=True))
    web = None
    if serve:
        from edge.cli_common import start_web
        web = start_web(serve, token, b, gallery, pipeline, token_file)
    mqtt = _start_mqtt(broker, camera_name, mqtt_prefix, gallery) if broker else None
    writer, status = None, 0
    try:
        with source:
            for frame, result in pipeline.run(source, max_frames):
                if sightings is not None:   # first: the outputs after it see the ids
                    sightings.publish(result)
                if web is not None:
                    web.publish(frame, result)
                if mqtt is not None:
                    mqtt.publish(result)
                if save_video:
                    writer = writer or _writer(save_video, frame, source.fps)
                    from edge.draw import annotate
                    writer.write(annotate(frame, result.faces))
                _emit(result, as_json, source.current)
    except KeyboardInterrupt:
        pass
    except SourceError as exc:
        click.echo(f"Error: {exc}", err=True)
        status = 1
    finally:
        if writer is not None:
            writer.release()
        if sightings is not None:
            sightings.close()
        if mqtt is not None:
            mqtt.close()
        if stats:
            _print_stats(pipeline.timings.summary())
    if getattr(source, "errors", None):
        click.echo(f"{len(source.errors)} of {len(source.files)} photos could not be read",
                   err=True)
        status = 1
    if web is not None and status == 0 and not source.live:
        click.echo("the source has ended; still serving the pages (Ctrl-C to stop)", err=True)
        web.wait()
    matcher.close()
    sys.exit(status)


def _mqtt_broker(url, camera_name, prefix):
    """The broker of --mqtt, or one line on what is wrong with it or the camera's name,
    before anything is loaded."""
    import os

    from edge.mqtt import PASSWORD_ENV, MqttError, check

    try:
        return check(url, camera_name, prefix, os.environ.get(PASSWORD_ENV))
    except MqttError as exc:
        fail(str(exc))


def _start_mqtt(broker, camera_name, prefix, gallery):
    """The MQTT output (edge.mqtt), the people it announces read from the gallery."""
    from edge.mqtt import GalleryPeople, MqttOutput
    from gallery.store import default_path

    return MqttOutput(broker, camera_name, prefix=prefix,
                      people=GalleryPeople(gallery or default_path()),
                      tell=lambda line: click.echo(line, err=True))


def _writer(path, frame, fps):
    import cv2

    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps or 15.0, (w, h))
    if not writer.isOpened():
        fail(f"{path}: cannot write video")
    return writer


def _emit(result, as_json, current_file):
    if as_json:
        d = result.as_dict()
        if current_file is not None:
            d["file"] = str(current_file)
        click.echo(json.dumps(d, ensure_ascii=False))
        return
    if not result.detected:
        return
    stamp = time.strftime("%H:%M:%S", time.localtime(result.time)) + f".{int(result.time * 1000) % 1000:03d}"
    where = f" {current_file}" if current_file is not None else f" frame {result.index}"
    if not result.faces:
        if current_file is not None:
            click.echo(f"{stamp}{where}: no face")
        return
    for f in result.faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        dist = "" if f.distance != f.distance else f" distance {f.distance:.3f}"
        click.echo(f"{stamp}{where}: {f.name}{dist} box {x1},{y1},{x2},{y2} track {f.track}")


def _print_stats(summary):
    click.echo("stage     mean ms   p50 ms   p95 ms   runs", err=True)
    for stage in ("capture", "detect", "align", "embed", "match"):
        if stage in summary:
            s = summary[stage]
            click.echo(f"{stage:<9}{s['mean']:>8.2f} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['runs']:>6}",
                       err=True)
    click.echo(f"{summary['frames']} frames, {summary['fps']:.1f} frames per second", err=True)


if __name__ == "__main__":
    main()
