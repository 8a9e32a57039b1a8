"""The device runtime: frame sources, detector, alignment, embedder, identify loop.

Nothing in this package imports tensorflow, keras or mtcnn.

Spelling: "enrol", "enrolment" (British) in code as in prose (``edge.enrol.enrol``,
``Gallery.enrol``, ``EnrolError``, ``Enrolment``); "enrolled" and "enrolling" are the
same either way. The command keeps its name, ``edge-enroll``, and so does its module,
``edge/cli_enroll.py``, as every ``cli_*.py`` is named after its command.
"""
