"""Media scoring: is this picture, video or voice real?

Layers, strongest evidence first (``fusion`` ranks them the same way):

- ``provenance``: C2PA Content Credentials and generator metadata (EXIF/XMP/PNG text);
- ``hashing`` / ``bank``: perceptual matches against banks of known fakes and fact-checked media
  (``hash_index`` for lookups at scale, ``keypoints`` for pictures partly covered by captions or logos);
- learned detectors (``synthetic_image``, ``face_video``, ``voice_clone``): weaker priors.

Every layer is a :class:`flockwatch.media.signal.MediaSignal`; ``fetch`` brings remote media in safely
and ``sniff``/``decode`` open it under size and pixel caps.
"""
