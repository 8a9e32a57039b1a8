"""The errors a user can cause. Each message is one line that says what to do."""


class GalleryError(Exception):
    """Base of every gallery error; the command line prints it as one line."""


class InvalidName(GalleryError):
    """A name that is empty, too long or holds control characters."""


class UnknownPerson(GalleryError):
    """No one of that name is enrolled."""


class DuplicatePerson(GalleryError):
    """Someone of that name is already enrolled."""


class ModelMismatch(GalleryError):
    """Embeddings made by different models cannot be compared."""


class CorruptFile(GalleryError):
    """A gallery or export file that cannot be read as one."""


class ChecksumMismatch(CorruptFile):
    """An export file whose contents do not match its manifest."""


class SchemaTooNew(GalleryError):
    """A gallery written by a newer siamese-edge than this one."""
