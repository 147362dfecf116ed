"""A camera for LabThings-FastAPI 0.3.0 whose action returns a blob.

tests/remote_blobs.rs serves it with the original's `labthings-server` and
hands the blob's link to an action of our server, which fetches it.
"""

import labthings_fastapi as lt


class TestPicture(lt.blob.Blob):
    """A picture: `size` bytes counting up, modulo 251."""

    media_type = "image/x-test"


class Camera(lt.Thing):
    """Makes test pictures."""

    @lt.action
    def capture(self, size: int = 1000) -> TestPicture:
        """A picture of `size` bytes."""
        return TestPicture.from_bytes(bytes(i % 251 for i in range(size)))

    @lt.action
    def measure(self, image: TestPicture) -> int:
        """The size of a picture, given by its link."""
        return len(image.content)
