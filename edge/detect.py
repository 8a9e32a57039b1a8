"""Face detection on the device: MTCNN as three TFLite files, in numpy and OpenCV alone.

Reproduces the ``mtcnn`` package (1.0) step by step and with its defaults: an image
pyramid from 12 / min_face down by 0.709, P-Net proposals (NMS 0.5 per level, 0.7
across levels), R-Net refinement (NMS 0.7), O-Net boxes and five landmarks (NMS 0.7 on
the smaller area). Its NMS is the package's: a box is dropped when any higher-scored
box overlaps it, whether or not that box was itself dropped.

Frames are BGR uint8 (OpenCV's order); the networks see RGB as (x - 127.5) / 128.
"""
from __future__ import annotations

import cv2
import numpy as np

from edge.faces import Face
from edge.litert import RUNTIME, make_interpreter

MEAN, SCALE = 127.5, 128.0
MIN_FACE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.8)  # P-Net, R-Net, O-Net face probability
WORKING_SIDE = 1600  # larger images are detected scaled down to this long side
NEAR = 2.0           # detect_near: a known face's region, in face sides
NEAR_SIDE = 96       # detect_near: the region's side once scaled, in pixels
NEAR_GAP = 24        # detect_near: grey between two regions in the strip
NEAR_SHIFTS = [(0, 0), (-12, 0), (12, 0), (0, -12), (0, 12)]   # candidates, in region pixels


class Net:
    """One TFLite network: ``run(x)`` returns its outputs keyed by their last dimension.

    Keeps one interpreter per input shape (P-Net has one per pyramid level, R-Net and
    O-Net one per batch size), because re-allocating tensors on every resize costs about
    as much as running the network; but not for inputs over ``keep_pixels`` (the first
    levels of a large photo's pyramid, whose tensors take tens of megabytes each): those
    are made, run and dropped. ``spare``: an interpreter already made for ``path`` with
    ``threads`` (by the bundle's check), used for the first shape.
    """

    def __init__(self, path, threads: int | None = None, keep: int = 24, spare=None,
                 keep_pixels: int = 400_000):
        self.path, self.threads, self.keep, self.spare = str(path), threads, keep, spare
        self.keep_pixels = keep_pixels
        self.interpreters: dict[tuple, object] = {}

    def _interpreter(self, shape: tuple):
        interpreter = self.interpreters.pop(shape, None)
        if interpreter is None:
            interpreter, self.spare = self.spare, None
            if interpreter is None:
                interpreter = make_interpreter(self.path, self.threads)
            interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], shape)
            interpreter.allocate_tensors()
            if len(shape) == 4 and shape[1] * shape[2] > self.keep_pixels:
                return interpreter
            if len(self.interpreters) >= self.keep:  # forget the least recently used
                self.interpreters.pop(next(iter(self.interpreters)))
        self.interpreters[shape] = interpreter
        return interpreter

    def run(self, x: np.ndarray) -> dict[int, np.ndarray]:
        interpreter = self._interpreter(x.shape)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return {int(d["shape"][-1]): interpreter.get_tensor(d["index"])
                for d in interpreter.get_output_details()}

    def run_batched(self, x: np.ndarray, largest: int) -> dict[int, np.ndarray]:
        """``run`` in chunks of at most ``largest``, each zero-padded to a power of two
        (so only a few shapes, hence interpreters, ever exist)."""
        if RUNTIME == "tflite_runtime":
            # tflite-runtime 2.14's int8 dot-product kernel (CPUs with asimddp, such as the
            # Pi 5's) reads past its buffer for fully connected layers at batch 2 or more
            # (seen under emulated cortex-a76); one crop at a time avoids that kernel path.
            largest = 1
        outs = []
        for start in range(0, len(x), largest):
            chunk = x[start:start + largest]
            size = 1 << (len(chunk) - 1).bit_length()
            padded = np.zeros((size, *chunk.shape[1:]), np.float32)
            padded[:len(chunk)] = chunk
            outs.append({k: v[:len(chunk)] for k, v in self.run(padded).items()})
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def pyramid_scales(width: int, height: int, min_face: int = MIN_FACE,
                   scale_factor: float = SCALE_FACTOR, min_size: int = 12,
                   max_face: float | None = None) -> np.ndarray:
    """The package's pyramid: 12 / min_face times scale_factor**k (its level count);
    with ``max_face``, no level smaller than one where a face of that side is 12 px."""
    count = round(-((np.log(min(width, height) / min_size) / np.log(scale_factor)) + 1))
    scales = min_size / min_face * scale_factor ** np.arange(count)
    if max_face:
        bound = min_size / max_face * scale_factor   # one level of slack below the bound
        scales = scales[scales >= bound]
    return scales


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept from score-sorted ``boxes`` (x1, y1, x2, y2, ...) by the package's NMS.

    A box is dropped if any earlier box overlaps it by more than ``threshold`` (IoU, or
    intersection over the smaller area for ``method="min"``).
    """
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    keep = np.ones(len(boxes), bool)
    for start in range(0, len(boxes), 256):  # rows in blocks: memory stays small
        i = slice(start, start + 256)
        inter = (np.maximum(0, np.minimum(x2[i, None], x2) - np.maximum(x1[i, None], x1))
                 * np.maximum(0, np.minimum(y2[i, None], y2) - np.maximum(y1[i, None], y1)))
        if method == "union":
            denominator = area[i, None] + area - inter
        else:
            denominator = np.minimum(area[i, None], area)
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / denominator
        later = np.arange(len(boxes)) > np.arange(start, start + len(inter))[:, None]
        keep &= ~((overlap > threshold) & later).any(axis=0)
    return np.flatnonzero(keep)


def by_score(boxes: np.ndarray) -> np.ndarray:
    """Rows sorted by score (column 4), highest first, as the package sorts them."""
    return boxes[np.argsort(boxes[:, 4])[::-1]]


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares of their longer side about the same centre."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += (w - side) / 2
    boxes[:, 1] += (h - side) / 2
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move box corners by ``offsets`` in units of the box's (w + 1, h + 1)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return boxes


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``size`` squares cut from ``image`` like ``tf.image.crop_and_resize`` cuts them.

    Bilinear samples at box / image_size * (image_size - 1); a sample outside the image
    is 0 (mid-grey once normalised), as in the package. (OpenCV 5 interpolates float
    maps exactly; older versions round sample positions to 1/32 pixel.)
    """
    height, width = image.shape[:2]
    t = np.arange(size) / (size - 1)

    def grid(lo, hi, n):
        lo, hi = lo / n, hi / n
        at = ((lo[:, None] + t * (hi - lo)[:, None]) * (n - 1)).astype(np.float32)
        at[(at < 0) | (at > n - 1)] = -2  # wholly outside, so remap gives 0
        return at

    ys, xs = grid(boxes[:, 1], boxes[:, 3], height), grid(boxes[:, 0], boxes[:, 2], width)
    out = np.empty((len(boxes), size, size, image.shape[2]), np.float32)
    step = 32000 // size  # remap's maps must stay under 32767 rows
    for i in range(0, len(boxes), step):
        n = len(ys[i:i + step])
        map_x = np.broadcast_to(xs[i:i + step, None, :], (n, size, size)).reshape(n * size, size)
        map_y = np.broadcast_to(ys[i:i + step, :, None], (n, size, size)).reshape(n * size, size)
        patch = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[i:i + n] = patch.reshape(n, size, size, -1)
    return out


class Detector:
    """MTCNN on TFLite files. ``detect(frame)`` returns a list of ``Face``.

    ``pnet``, ``rnet``, ``onet``: paths of the files ``convert.detector`` writes;
    ``threads``: LiteRT threads (None: its default); ``batch``: the largest R-Net and
    O-Net batch (``benchmarks/detector_speed.py --batches``: batches beat one crop at a
    time, larger ones gained nothing); ``opened``: interpreters already made for the
    three files with ``threads`` (or None), see ``Net``; ``max_side``: an image whose
    long side is larger is detected scaled down to it (``min_face`` then counts at that
    scale) and its boxes and landmarks mapped back, so a large photo costs no more than
    a 1600 px one. ``max_face``: the largest face side looked for (None: up to the
    whole image), which spares the pyramid's smallest levels.

    ``detect_near(frame, boxes)`` looks only where faces already known are (the tracks
    of a video): each box widened to a square of ``NEAR`` times its side and scaled to
    ``NEAR_SIDE`` pixels; there the known box and four shifted by a quarter of its side
    are the candidates R-Net and O-Net judge and move onto the face, without P-Net.
    """

    def __init__(self, pnet, rnet, onet, threads: int | None = None,
                 min_face: int = MIN_FACE, thresholds=THRESHOLDS,
                 scale_factor: float = SCALE_FACTOR, batch=(16, 8), opened=(None, None, None),
                 max_side: int = WORKING_SIDE, max_face: float | None = None):
        self.pnet, self.rnet, self.onet = (Net(p, threads, spare=s)
                                           for p, s in zip((pnet, rnet, onet), opened))
        self.batch = batch
        self.min_face, self.scale_factor = min_face, scale_factor
        self.thresholds = tuple(thresholds)
        self.max_side = int(max_side)
        self.max_face = max_face

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR (or grey) uint8 frame, highest score first."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.shape[2:] not in ((), (3,)) or image.ndim < 2:
            raise ValueError("expected a BGR or grey uint8 image, "
                             f"not {image.dtype} {image.shape}")
        scale = self.max_side / max(image.shape[:2])
        if scale >= 1:
            return self._detect(image)
        small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        return [Face(box=tuple(v / scale for v in f.box), score=f.score,
                     landmarks=f.landmarks / scale) for f in self._detect(small)]

    def detect_near(self, image: np.ndarray, boxes) -> list[Face]:
        """Faces found around each of ``boxes`` (x1, y1, x2, y2) in ``image``, highest
        score first; a face seen from two boxes' regions is kept once.

        The regions, each scaled to NEAR_SIDE pixels, are laid side by side in one strip
        (grey between them), and R-Net and O-Net run once on all their candidates: a
        face that moved more than about a quarter of its side since is not found here
        (the caller then scans the whole frame).
        """
        regions = [self._region(image, box) for box in boxes]
        regions = [r for r in regions if r is not None]
        if not regions:
            return []
        step = NEAR_SIDE + NEAR_GAP
        strip = np.full((NEAR_SIDE, step * len(regions) - NEAR_GAP) + image.shape[2:], 128,
                        np.uint8)
        for i, (pixels, _, _) in enumerate(regions):
            strip[:, i * step:i * step + NEAR_SIDE] = pixels
        found = []
        centre = (NEAR_SIDE - NEAR_SIDE / NEAR) / 2   # where each known face sits in its region
        known = np.array([[i * step + centre + dx, centre + dy,
                           i * step + centre + dx + NEAR_SIDE / NEAR, centre + dy + NEAR_SIDE / NEAR]
                          for i in range(len(regions)) for dx, dy in NEAR_SHIFTS], np.float32)
        for face in self._detect(strip, proposals=known):
            i = int((face.box[0] + face.box[2]) / 2 // step)
            if i >= len(regions):
                continue
            _, corner, f = regions[i]

            def back(points):   # strip pixels to image pixels, as (x, y) rows
                return (np.reshape(points, (-1, 2)) - (i * step, 0)) / f + corner

            found.append(Face(box=tuple(float(v) for v in back(face.box).ravel()),
                              score=face.score, landmarks=back(face.landmarks)))
        if len(found) < 2:
            return found
        boxes = np.array([[*face.box, face.score] for face in found])
        return [found[i] for i in nms(boxes, 0.5)]

    @staticmethod
    def _region(image: np.ndarray, box):
        """(NEAR_SIDE square of pixels, its top-left corner in ``image``, scale) around
        ``box``: a square NEAR times the box's side, off-image parts grey; None when the
        box is off the image."""
        height, width = image.shape[:2]
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1, 1.0) * NEAR
        left, top = int(round((x1 + x2 - side) / 2)), int(round((y1 + y2 - side) / 2))
        crop = image[max(top, 0):max(min(top + int(side), height), 0),
                     max(left, 0):max(min(left + int(side), width), 0)]
        if min(crop.shape[:2]) < 2:
            return None
        f = NEAR_SIDE / side
        region = np.full((NEAR_SIDE, NEAR_SIDE) + image.shape[2:], 128, np.uint8)
        scaled = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
        ox, oy = round((max(left, 0) - left) * f), round((max(top, 0) - top) * f)
        scaled = scaled[:NEAR_SIDE - oy, :NEAR_SIDE - ox]
        region[oy:oy + scaled.shape[0], ox:ox + scaled.shape[1]] = scaled
        return region, (left, top), f

    def _detect(self, image: np.ndarray, min_face: float | None = None,
                max_face: float | None = None, proposals=None) -> list[Face]:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)
        x = rgb.astype(np.float32)
        x -= MEAN
        x /= SCALE
        if proposals is None:
            boxes = self._proposals(x, min_face or self.min_face, max_face or self.max_face)
        else:   # candidates given (faces already known): R-Net and O-Net judge them
            boxes = np.column_stack([proposals, np.ones(len(proposals), np.float32)])
        if len(boxes):
            boxes = self._refine(x, boxes)
        if not len(boxes):
            return []
        boxes, landmarks = self._output(x, boxes)
        height, width = image.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height - 1)
        return [Face(box=tuple(float(v) for v in b[:4]), score=float(b[4]), landmarks=lm)
                for b, lm in zip(boxes, landmarks)]

    def _proposals(self, x: np.ndarray, min_face: float, max_face: float | None) -> np.ndarray:
        """P-Net over the pyramid: squared candidate boxes (x1, y1, x2, y2, score)."""
        height, width = x.shape[:2]
        found = []
        for scale in pyramid_scales(width, height, min_face, self.scale_factor,
                                    max_face=max_face):
            h, w = int(height * scale), int(width * scale)
            if min(h, w) < 11:  # P-Net has no output below 11 pixels (the package then
                continue        # fails and reports no face at all; here the level is skipped)
            level = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
            out = self.pnet.run(level[None])
            offsets, prob = out[4][0], out[2][0, :, :, 1]
            ys, xs = np.nonzero(prob > self.thresholds[0])
            cells = np.stack([xs, ys, xs, ys], axis=1) * 2 + [1, 1, 12, 12]  # as the package
            boxes = np.column_stack([(cells + offsets[ys, xs] * 11) / scale, prob[ys, xs]])
            boxes = by_score(boxes)
            found.append(boxes[nms(boxes, 0.5)])
        boxes = by_score(np.concatenate(found)) if found else np.empty((0, 5))
        return square(boxes[nms(boxes, 0.7)])

    def _refine(self, x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net on 24x24 crops: rescored, regressed, filtered, squared."""
        out = self.rnet.run_batched(crops(x, boxes, 24), self.batch[0])
        boxes = regress(boxes, out[4])
        boxes[:, 4] = out[2][:, 1]
        boxes = by_score(boxes[boxes[:, 4] > self.thresholds[1]])
        return square(boxes[nms(boxes, 0.7)])

    def _output(self, x: np.ndarray, boxes: np.ndarray):
        """O-Net on 48x48 crops: final boxes and their 5x2 landmarks."""
        out = self.onet.run_batched(crops(x, boxes, 48), self.batch[1])
        side = boxes[:, 2:4] - boxes[:, 0:2] + 1  # landmarks are relative to the input box
        points = out[10].reshape(-1, 2, 5).transpose(0, 2, 1)  # (x1..x5, y1..y5) to 5x2
        points = points * side[:, None] + boxes[:, None, 0:2] - 1
        boxes = regress(boxes, out[4])
        boxes[:, 4] = out[2][:, 1]
        keep = boxes[:, 4] > self.thresholds[2]
        boxes, points = boxes[keep], points[keep]
        order = np.argsort(boxes[:, 4])[::-1]
        boxes, points = boxes[order], points[order]
        keep = nms(boxes, 0.7, "min")
        return boxes[keep], points[keep]
