"""The device runtime: frame sources, detector, alignment, embedder, the pipeline.

Five verbs (``edge.api``) for scripts::

    import edge
    edge.enrol("Ada", "ada.jpg")                  # one snapshot into the default gallery
    faces = edge.identify("door.jpg")             # [FaceResult(name="Ada", ...), ...]
    edge.find_faces(image), edge.embed_faces(image), edge.open_bundle("fast")

and ``edge.Pipeline`` for a camera or a video (``edge.open_source``, ``Pipeline.run``).
Nothing in this package imports tensorflow, keras or mtcnn. The verbs are imported on
first use, so ``import edge`` stays light (the commands set their BLAS threads before
numpy is first imported).

Spelling: "enrol", "enrolment" (British) in code as in prose (``edge.enrolment.enrol``,
``Gallery.enrol``, ``EnrolError``, ``Enrolment``); "enrolled" and "enrolling" are the
same either way. The command keeps its name, ``edge-enroll``, and so does its module,
``edge/cli_enroll.py``, as every ``cli_*.py`` is named after its command.
"""
__all__ = ["open_bundle", "find_faces", "embed_faces", "identify", "enrol", "read_image",
           "Pipeline", "open_source"]

_WHERE = {"open_bundle": "edge.api", "find_faces": "edge.api", "embed_faces": "edge.api",
          "identify": "edge.api", "enrol": "edge.api", "read_image": "edge.images",
          "Pipeline": "edge.pipeline", "open_source": "edge.sources"}


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'edge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__():
    return sorted(list(globals()) + __all__)
