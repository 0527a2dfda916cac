# Stubs of the compiled module; python/tests/test_analysis.py checks them
# against the built module.
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
ERROR_KINDS: List[str]
DEFAULTS: Dict[str, Any]

def probe(path: str) -> Dict[str, Any]: ...

class FrameIter:
    def __new__(
        cls, path: str, *, parallel: bool = True, every: int = 1, gray: bool = False
    ) -> "FrameIter": ...
    @property
    def info(self) -> Dict[str, Any]: ...
    def __iter__(self) -> "FrameIter": ...
    def __next__(self) -> Tuple[npt.NDArray[np.uint8], int, int, float]: ...
    def __len__(self) -> int: ...
    def index_at_time(self, seconds: float) -> int: ...
    def seek(self, index: int) -> None: ...
    def frame_at(self, index: int) -> Tuple[npt.NDArray[np.uint8], int, int, float]: ...
    def close(self) -> None: ...

class FaceDetector:
    def __new__(
        cls,
        *,
        threshold: float = 0.3,
        scale: float = 0.0,
        threads: int = 0,
        precision: str = "int8",
    ) -> "FaceDetector": ...
    def detect(
        self, array: npt.NDArray[np.uint8]
    ) -> List[Tuple[float, float, float, float, float, Optional[str]]]: ...

class PlateDetector:
    def __new__(
        cls, *, threshold: float = 0.3, confirm: bool = False, threads: int = 0
    ) -> "PlateDetector": ...
    def detect(
        self, array: npt.NDArray[np.uint8]
    ) -> List[Tuple[float, float, float, float, float, Optional[str]]]: ...

class PersonDetector:
    def __new__(cls, *, threshold: float = 0.35, threads: int = 0) -> "PersonDetector": ...
    def detect(
        self, array: npt.NDArray[np.uint8]
    ) -> List[Tuple[float, float, float, float, float, Optional[str]]]: ...

class Redactor:
    def __new__(
        cls,
        *,
        operator: str,
        reason: str,
        camera: Optional[str] = None,
        faces: bool = True,
        plates: bool = True,
        people: Optional[str] = None,
        plate_confirm: bool = False,
        vehicles: bool = True,
        unmask: List[str] = ...,
        authorisation: Optional[str] = None,
        case_reference: Optional[str] = None,
        style: str = "mosaic",
        scene: bool = False,
        moving: bool = False,
        pad: float = 1.3,
        face_threshold: float = 0.3,
        face_scale: float = 0.0,
        face_precision: str = "int8",
        full_every: int = 32,
        crf: int = 18,
        preset: str = "veryfast",
        audio: str = "copy",
        db: Optional[str] = None,
        key: Optional[str] = None,
        overwrite: bool = False,
    ) -> "Redactor": ...
    @property
    def detection_workers(self) -> int: ...
    def redact(
        self,
        input: str,
        output: str,
        *,
        keep_tracks: List[int] = ...,
        keep_reason: Optional[str] = None,
        boxes: List[str] = ...,
        replay: Optional[str] = None,
        case_reference: Optional[str] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> Dict[str, Any]: ...

def tracks(
    input: str,
    *,
    faces: bool = True,
    plates: bool = True,
    people: Optional[str] = None,
    plate_confirm: bool = False,
    vehicles: bool = True,
    face_threshold: float = 0.3,
    face_scale: float = 0.0,
    face_precision: str = "int8",
    full_every: int = 32,
    sheet: Optional[str] = None,
    overwrite: bool = False,
    progress: Optional[Callable[[int, int], Any]] = None,
) -> Dict[str, Any]: ...
def verify_redaction(
    output: str,
    *,
    record: Optional[str] = None,
    min_score: Optional[float] = None,
    db: Optional[str] = None,
) -> Dict[str, Any]: ...
class Indexer:
    def __new__(cls, *, camera: str, db: str, threads: int = 0, triage: bool = False) -> "Indexer": ...
    @property
    def camera(self) -> int: ...
    def index(
        self,
        paths: List[str],
        *,
        start: Optional[str] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> List[Dict[str, Any]]: ...

def incidents(
    db: str,
    *,
    camera: Optional[int] = None,
    town: Optional[str] = None,
    desk: Optional[str] = None,
    since: Optional[str] = None,
    until: Optional[str] = None,
) -> List[Dict[str, Any]]: ...
def incident_images(
    db: str, id: int
) -> Optional[Tuple[Optional[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]]: ...
def report(db: str, month: str, *, by: str = "camera", compare_previous: bool = True) -> Dict[str, Any]: ...
