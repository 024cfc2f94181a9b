"""Frame boundaries without parsing frames: what the relay's fast path tracks.

After the 101, a direction with no fault that needs whole messages is pumped as it is read; the
scanner only follows frame headers so that frames can be counted and a fault added later can
start at a frame boundary.
"""

from __future__ import annotations


class FrameScanner:
    """Finds frame boundaries in a byte stream without copying or unmasking payloads.

    Only frame headers are looked at, so a 1 MiB message costs as much as an empty one.
    """

    def __init__(self) -> None:
        self._header = b""  # the start of a header cut by the end of the last scan
        self._left = 0  # payload bytes of the current frame still to come

    @property
    def at_boundary(self) -> bool:
        """Whether every byte scanned so far belongs to a complete frame."""
        return not self._header and not self._left

    def scan(self, data: bytes, *, first: bool = False) -> tuple[int, int]:
        """Scan ``data``; return how many frames it completes and where the last one ends.

        Args:
            data: the next bytes of the stream.
            first: stop at the first boundary: return after the frame in progress completes (or
                at once, with ``(0, 0)``, when already at a boundary). The bytes past the offset
                are not scanned.

        Returns:
            ``(frames, offset)``: ``data[:offset]`` ends at a frame boundary.
        """
        if first and self.at_boundary:
            return 0, 0
        frames = end = 0
        size = len(data)
        pos = min(self._left, size)
        self._left -= pos
        if self._left:
            return 0, 0
        if pos and not self._header:
            frames, end = 1, pos
            if first:
                return frames, end
        shift = len(self._header)
        if shift:
            # Rare: a header split across reads. Scan it joined with the new bytes.
            data, pos, size = self._header + data, 0, size + shift
            self._header = b""
        while pos < size:
            if size - pos < 2:
                self._header = data[pos:]
                break
            length = data[pos + 1] & 0x7F
            header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            header += 4 if data[pos + 1] & 0x80 else 0
            if size - pos < header:
                self._header = data[pos:]
                break
            if length >= 126:
                length = int.from_bytes(data[pos + 2 : pos + (4 if length == 126 else 10)], "big")
            pos += header + length
            if pos > size:
                self._left = pos - size
                break
            frames, end = frames + 1, pos
            if first:
                break
        return frames, max(end - shift, 0)
