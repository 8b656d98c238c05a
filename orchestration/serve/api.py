"""API v1 request and response models, and turning a raw HTTP request into an `EpisodeState` - or a 4xx.

Every client mistake raises `ApiError(status, error, detail)`: `error` a stable code, `detail` a sentence that says
what to change. The order of checks is chosen so that nothing expensive happens before it must: the Host header
(`check_host`), authentication, then the content type, then the body size (Content-Length, then the bytes actually read, before any parsing), then
the JSON or multipart structure, the fields, the instruction, and last the image: its size in bytes, its header
(format and pixel count, before a single pixel is decoded, so a decompression bomb costs nothing), and only then
a full decode with `envs.image_io.load_image`.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from envs.image_io import ImageInputError, encode_png, load_image
from orchestration.config import looks_local
from orchestration.serve.config import Limits


class ApiError(Exception):
    """A request the service refuses: sent as `{error, detail}` with `status`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


class ErrorBody(BaseModel):
    error: str = Field(description="Stable machine-readable code, e.g. image_too_large.")
    detail: str = Field(description="What was wrong and what to change.")


class EditOptions(BaseModel):
    """Per-request options (`options`: a JSON object)."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(default=None, gt=0, description="Answer within this many seconds (504 after); at most the server's request_timeout_s.")
    max_rounds: int | None = Field(default=None, ge=0, description="Reflection rounds; at most the pipeline's own bound, 0 turns reflection off.")


class EditJSON(BaseModel):
    """`POST /v1/edit` with `Content-Type: application/json`."""

    model_config = ConfigDict(extra="forbid")

    image_base64: str = Field(description="The image file (PNG, JPEG, ...) base64-encoded, optionally as a data: URL.")
    instruction: str = Field(description="What to change, in words.")
    options: EditOptions | None = Field(default=None, description="Per-request options.")


class ChecklistEntry(BaseModel):
    question: str
    answer: Literal["yes", "no", "unknown"]
    reason: str = Field(default="", description="What the verifier saw that gave its answer; '' when it gives none (the Canvas verifier).")


class Component(BaseModel):
    action: str
    subject: list[str]
    target: list[str]


class EditResponse(BaseModel):
    """What the pipeline did: the edited image and every agent's work."""

    id: str = Field(description="Request id, unique per edit (the episode's task id is serve-<id>).")
    pipeline: str = Field(description="Name of the pipeline config that served the request.")
    image_base64: str = Field(description="The edited image, PNG, base64-encoded.")
    plan: str | None = Field(description="The thinker's plan; null without a thinker.")
    components: list[Component] | None = Field(description="The decomposer's (action, subject, target) components.")
    subrequests: list[str] | None = Field(description="The sorter's single-step requests, in execution order.")
    applied: list[str] = Field(description="Requests the editor carried out.")
    skipped: list[str] = Field(description="Requests the editor did not carry out, each with the reason.")
    checklist: list[ChecklistEntry] = Field(description="The verifier's yes/no questions and its answers; empty without a verifier.")
    score: float | None = Field(description=(
        "Fraction of checklist items answered as expected; 0 when no edit was understood; null without a verifier."))
    passed: bool | None = Field(description="Whether every checklist item passed (false when no edit was understood).")
    understood: bool = Field(description=(
        "False when the pipeline read no edit into the instruction and the image is unchanged; `message` says what to do."))
    message: str | None = Field(default=None, description="Why nothing was edited and how to rephrase; null when understood.")
    rounds: int = Field(description="Planning/editing rounds run (1 + reflection rounds).")
    timings_ms: dict[str, float] = Field(description="Milliseconds per agent (summed over rounds), measured at the ingress.")
    total_ms: float = Field(description="Milliseconds for the whole request inside the service.")


class Sample(BaseModel):
    task_id: str
    instruction: str
    image_base64: str
    category: str
    n_steps: int


# -- reading a request ----------------------------------------------------------------------------------------------

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               406: "not_acceptable", 413: "payload_too_large", 415: "unsupported_media_type", 421: "host_not_allowed",
               422: "invalid_request"}


def http_error_code(status: int) -> str:
    return ERROR_CODES.get(status, "client_error" if status < 500 else "server_error")


def validation_detail(err: ValidationError | list[dict[str, Any]], prefix: str = "") -> str:
    """Pydantic errors as `field: problem; ...`, with the accepted fields for unknown keys."""
    errors = err.errors() if isinstance(err, ValidationError) else err
    parts = []
    for e in errors:
        loc = prefix + ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            model = EditOptions if loc.startswith("options.") else EditJSON
            msg = f"unknown field; accepted: {', '.join(model.model_fields)}"
        elif e.get("type") == "missing":
            msg = "field required"
        parts.append(f"{loc}: {msg}" if loc.strip(".") else msg)
    return "; ".join(parts)


async def read_body(request: Request, limits: Limits) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be larger than `limits.max_body_bytes`."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "bad_content_length", f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > limit:
            raise ApiError(413, "body_too_large", f"request body is {int(declared):,} bytes, more than the limit of {limit:,}; "
                                                  "send a smaller image (compress or downscale it)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body is more than the limit of {limit:,} bytes; send a smaller image")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_instruction(instruction: Any, limits: Limits) -> str:
    if not isinstance(instruction, str):
        raise ApiError(422, "invalid_instruction", "instruction must be text")
    text = instruction.strip()
    if not text:
        raise ApiError(422, "empty_instruction", 'instruction is empty; say what to change, e.g. "make the red circle blue"')
    if len(text) > limits.max_instruction_chars:
        raise ApiError(422, "instruction_too_long", f"instruction has {len(text):,} characters, more than the limit of "
                                                    f"{limits.max_instruction_chars:,}; shorten it")
    if "\x00" in text:
        raise ApiError(422, "invalid_instruction", "instruction contains a NUL character; send plain text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") in JSON: not text the agents or the reply can carry
        raise ApiError(422, "invalid_instruction", "instruction contains an unpaired UTF-16 surrogate; send valid Unicode text") from None
    return text


_DATA_URL = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*),", re.IGNORECASE)


def decode_base64(text: str, limits: Limits) -> bytes:
    """The bytes of a base64 image field (standard alphabet, '=' padding, optional data: URL prefix)."""
    text = text.strip()
    match = _DATA_URL.match(text)
    if match:
        mime, params = match.group(1).strip().lower(), match.group(2).lower()
        if mime and not mime.startswith("image/"):
            raise ApiError(415, "unsupported_media_type", f"image_base64 is a data URL of type {mime!r}; send an image (data:image/png;base64,...)")
        if ";base64" not in params:
            raise ApiError(400, "invalid_base64", "image_base64 is a data URL without ';base64'; use data:image/png;base64,<data>")
        text = text[match.end():]
    payload = "".join(text.split())
    if not payload:
        raise ApiError(422, "empty_image", "image_base64 is empty; send the image file's bytes base64-encoded")
    if len(payload) // 4 * 3 > limits.max_image_bytes + 2:
        raise ApiError(413, "image_too_large", f"image decodes to about {len(payload) // 4 * 3:,} bytes, more than the limit of "
                                               f"{limits.max_image_bytes:,}; compress or downscale it")
    try:
        if len(payload) % 4:
            raise binascii.Error("length is not a multiple of 4")
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ApiError(400, "invalid_base64", f"image_base64 is not valid base64 ({err}); encode the file's bytes with the "
                                              "standard alphabet (A-Z a-z 0-9 + /) and '=' padding") from None


def _header(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """(format, size) from the image header alone, or (None, None) when Pillow cannot read one."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                return img.format, img.size
        except Image.DecompressionBombError as err:
            raise ApiError(413, "too_many_pixels", f"image declares too many pixels to decode safely ({err}); downscale it") from None
        except Exception:  # noqa: BLE001 - load_image below says precisely what is wrong
            return None, None


# Images up to this many pixels decode in about a millisecond on one core - less than a hop to a worker thread
# and back costs a loaded event loop - so the ingress decodes them in place.
INLINE_DECODE_MAX_PIXELS = 256 * 256


def decode_is_cheap(data: bytes) -> bool:
    """Whether decoding `data` is cheap enough to run on the event loop: its header declares at most
    INLINE_DECODE_MAX_PIXELS pixels (an unreadable header fails fast in `decode_image`)."""
    if len(data) > 1 << 20:
        return False
    try:
        _, size = _header(data)
    except ApiError:  # a decompression bomb: decode_image refuses it just as fast
        return True
    return size is None or size[0] * size[1] <= INLINE_DECODE_MAX_PIXELS


def decode_image(data: bytes, limits: Limits) -> bytes:
    """Check the image file against the limits and return it as PNG (RGB), or raise ApiError. CPU-bound: call it
    from a worker thread."""
    if not data:
        raise ApiError(422, "empty_image", "the image is empty (0 bytes); send a complete image file")
    if len(data) > limits.max_image_bytes:
        raise ApiError(413, "image_too_large", f"image is {len(data):,} bytes, more than the limit of {limits.max_image_bytes:,}; "
                                               "compress or downscale it")
    fmt, size = _header(data)
    if fmt is not None and fmt not in limits.formats:
        raise ApiError(415, "unsupported_image_format", f"{fmt} images are not accepted; send one of {', '.join(limits.formats)}")
    if size is not None:
        w, h = size
        if w * h > limits.max_pixels:
            raise ApiError(413, "too_many_pixels", f"image is {w}x{h} = {w * h:,} pixels, more than the limit of "
                                                   f"{limits.max_pixels:,}; downscale it")
        if min(w, h) < limits.min_side:
            raise ApiError(422, "image_too_small", f"image is {w}x{h} pixels; send one at least {limits.min_side}x{limits.min_side}")
    try:
        image = load_image(data, max_pixels=limits.max_pixels, max_bytes=limits.max_image_bytes, min_side=limits.min_side)
    except ImageInputError as err:
        raise ApiError(400, "invalid_image", str(err).replace("image bytes: ", "image: ", 1)) from None
    return encode_png(image)  # what the agents read: RGB, orientation applied, alpha on white


def _options(raw: Any) -> EditOptions:
    try:
        return EditOptions.model_validate(raw if raw is not None else {})
    except ValidationError as err:
        raise ApiError(422, "invalid_options", validation_detail(err, "options.")) from None


async def parse_edit_request(request: Request, limits: Limits) -> tuple[bytes, str, EditOptions]:
    """(image file bytes, instruction, options) from a JSON or multipart `POST /v1/edit` (module docstring)."""
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media not in ("application/json", "multipart/form-data"):
        got = f"Content-Type {media!r}" if media else "no Content-Type"
        raise ApiError(415, "unsupported_media_type", f"sent {got}; send multipart/form-data (fields image, instruction, "
                                                      "options) or application/json (image_base64, instruction, options)")
    body = await read_body(request, limits)
    if media == "application/json":
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            raise ApiError(400, "malformed_json", "body is not UTF-8 text; send JSON encoded as UTF-8") from None
        except json.JSONDecodeError as err:
            raise ApiError(400, "malformed_json", f"body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                                                  "send an object {\"image_base64\": ..., \"instruction\": ...}") from None
        except RecursionError:
            raise ApiError(400, "malformed_json", "body nests JSON too deeply; send a flat object {\"image_base64\": ..., \"instruction\": ...}") from None
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_request", f"body is a JSON {type(data).__name__}; send an object with image_base64 and instruction")
        try:
            req = EditJSON.model_validate(data)
        except ValidationError as err:
            raise ApiError(422, "invalid_request", validation_detail(err)) from None
        return decode_base64(req.image_base64, limits), _check_instruction(req.instruction, limits), req.options or EditOptions()

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8, max_part_size=limits.max_body_bytes)
    except StarletteHTTPException as err:  # what Starlette raises for a malformed body or too many parts
        raise ApiError(400, "malformed_multipart", f"{err.detail}; send multipart/form-data with a file field 'image' "
                                                   "and a text field 'instruction'") from None
    except Exception as err:  # noqa: BLE001 - the multipart parser's own errors (e.g. no boundary)
        raise ApiError(400, "malformed_multipart", f"cannot parse the multipart body ({err}); send multipart/form-data with "
                                                   "a boundary, a file field 'image' and a text field 'instruction'") from None
    try:
        unknown = sorted(set(form.keys()) - {"image", "instruction", "options"})
        if unknown:
            raise ApiError(422, "invalid_request", f"unknown form field(s) {', '.join(unknown)}; accepted fields: image, instruction, options")
        missing = [k for k in ("image", "instruction") if k not in form]
        if missing:
            raise ApiError(422, "invalid_request", f"missing form field(s) {', '.join(missing)}; send the image as a file "
                                                   "field 'image' and the text as 'instruction'")
        upload = form["image"]
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid_request", "form field 'image' is text; send it as a file upload "
                                                   "(or use JSON with image_base64)")
        instruction = form["instruction"]
        if not isinstance(instruction, str):
            raise ApiError(422, "invalid_instruction", "form field 'instruction' is a file; send it as a text field")
        options: Any = None
        if "options" in form:
            raw = form["options"]
            if not isinstance(raw, str):
                raise ApiError(422, "invalid_options", "form field 'options' is a file; send it as a JSON text field")
            if raw.strip():
                try:
                    options = json.loads(raw)
                except RecursionError:
                    raise ApiError(400, "malformed_json", "form field 'options' nests JSON too deeply; send a flat object") from None
                except json.JSONDecodeError as err:
                    raise ApiError(400, "malformed_json", f"form field 'options' is not valid JSON ({err.msg}); "
                                                          'send an object such as {"timeout_s": 10}') from None
        data = await upload.read()
        return data, _check_instruction(instruction, limits), _options(options)
    finally:
        await form.close()


# -- the Host header ------------------------------------------------------------------------------------------------

#: Host names that can only reach this machine: a browser sends one of them only to a server it reached on loopback.
LOOPBACK_NAMES = frozenset({"localhost"})


def host_name(header: str) -> str | None:
    """The name in a Host header, lower-cased, without port, brackets or a final dot; None when it is malformed.

    >>> [host_name(h) for h in ["LocalHost:8000", "[::1]:8000", "127.0.0.1", "example.org.", "a:b", "[::1"]]
    ['localhost', '::1', '127.0.0.1', 'example.org', None, None]
    """
    text = header.strip().lower()
    if text.startswith("["):  # an IPv6 literal: [addr] or [addr]:port
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[1:end], text[end + 1:]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return name or None
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    name = name[:-1] if name.endswith(".") else name
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_host(header: str | None, local_address: str | None, allowed: Sequence[str]) -> None:
    """Refuse (421) a request whose Host header names a server this one does not answer to (400 when it names none).

    A web page can reach a server on loopback through DNS rebinding: its own name (evil.example) is re-pointed at
    127.0.0.1, and the browser then treats the server as the page's own origin. Such a request always carries the
    page's name in Host, so a request that arrived on a loopback address must name the machine itself: an IP
    literal, `localhost`, or a name in `allowed` (the serve config's `allowed_hosts`; `*` allows any). A request
    that arrived on another address (the server bound 0.0.0.0 or a LAN address) is reached by names this process
    cannot know, so there it is checked only when `allowed` lists some. `local_address`: the address the connection
    arrived on (ASGI `scope["server"]`), None when unknown (checked as loopback)."""
    if "*" in allowed:
        return
    name = host_name(header or "")
    if name is not None and (_is_ip(name) or name in LOOPBACK_NAMES or name in allowed):
        return
    if name is not None and not allowed and local_address is not None and not _is_loopback(local_address):
        return
    shown = (header or "")[:100]
    if name is None:
        raise ApiError(400, "bad_host", f"the Host header {shown!r} is not a host name; send Host: localhost or the "
                                        "server's address")
    raise ApiError(421, "host_not_allowed", (
        f"this server does not answer to the host name {name!r} (a web page that re-points its own name at this "
        "server, DNS rebinding, looks the same); use http://localhost:<port>/ or the server's IP address, or allow "
        f"the name in the serve config: allowed_hosts: [{name}] (editrl serve --set 'allowed_hosts=[{name}]')"))


# -- what /v1/agents shows ------------------------------------------------------------------------------------------

#: Keys of an agent's description that name a model: shown as a label, never as a file-system path.
MODEL_KEYS = ("model", "checkpoint")


def model_label(model: Any, checkpoint: str | None = None) -> Any:
    """How /v1/agents names a model: a hub id as it is; a local folder by its name - or, inside the served
    checkpoint, by its path from the checkpoint's own folder (`run/checkpoints/iter_000040/policies/thinker`) - so
    the response shows which weights are served without the server's directory layout.

    >>> model_label("Qwen/Qwen2.5-0.5B"), model_label("/home/me/runs/sft/thinker")
    ('Qwen/Qwen2.5-0.5B', 'thinker')
    >>> model_label("/home/me/run/checkpoints/iter_000040/policies/thinker", "/home/me/run")
    'run/checkpoints/iter_000040/policies/thinker'
    """
    if not isinstance(model, str):
        return None if model is None else type(model).__name__  # an object handed over in code
    path = Path(model).expanduser()
    if not looks_local(model) and not path.exists():
        return model  # a hub id names no folder of this machine
    if checkpoint is not None:
        root = Path(checkpoint).expanduser()
        try:
            return (Path(root.name) / path.relative_to(root)).as_posix()
        except ValueError:
            pass
    return path.name or model


def public_description(described: dict[str, Any], checkpoint: str | None) -> dict[str, Any]:
    """An agent's own description (`Agent.describe()`) with every model path replaced by its label."""
    return {k: model_label(v, checkpoint) if k in MODEL_KEYS else v for k, v in described.items()}
