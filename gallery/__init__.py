"""The on-device gallery: a SQLite file of people and their embeddings, and matching
(with the sightings the identify loop keeps, and the rejections that correct it).

    from gallery import Gallery, Matcher
    with Gallery(path) as g:
        g.enrol("Ada", embedding, model_sha256, face_crop)
    matcher = Matcher(path, model_sha256, threshold)
    matcher.match(embedding)    # Match(name='Ada', distance=0.31, margin=0.42, ...)

Imports numpy and the standard library only (never click, OpenCV, the device runtime,
tensorflow, keras or mtcnn). Its command is ``edge.cli_gallery``.
"""
from .errors import (AmbiguousName, BadSignature, ChecksumMismatch, CorruptFile,
                     DuplicatePerson, GalleryBusy, GalleryError, InvalidName, ModelMismatch,
                     NotWritable, SchemaTooNew, UnknownPerson, UnknownSighting)
from .match import Match, Matcher
from .names import clean_name
from .store import Enrolment, Gallery, Person, default_path

__all__ = ["AmbiguousName", "BadSignature", "ChecksumMismatch", "CorruptFile",
           "DuplicatePerson", "Enrolment", "Gallery", "GalleryBusy", "GalleryError",
           "InvalidName", "Match", "Matcher", "ModelMismatch", "NotWritable", "Person",
           "SchemaTooNew", "UnknownPerson", "UnknownSighting", "clean_name", "default_path"]
