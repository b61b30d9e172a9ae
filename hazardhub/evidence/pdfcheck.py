"""Is an uploaded PDF passive? Decided by a PDF parser (qpdf, through pikepdf), never by a byte search.

Why a parser: a byte search is blind to what every viewer does before it looks at a name. ``/S
/J#61vaScript`` is the name ``/JavaScript`` once ``#xx`` escapes are decoded, and an action kept in
a compressed object stream (PDF 1.5+, what most writers produce today) is not in the file's bytes
at all. qpdf decodes names, reads cross-reference streams and object streams, and hands over every
object as a viewer sees it; the check looks at the objects, not at the bytes.

What is refused (the message names what was found), wherever it sits — the catalogue, a page, an
annotation, a form field, a bookmark, a ``/Next`` chain or an object nothing refers to:

- JavaScript: a ``/JS`` entry, the ``/Names/JavaScript`` tree, a ``/S /JavaScript`` action;
- ``/Launch`` (start a program), ``/SubmitForm`` and ``/ImportData`` (send or read form data),
  ``/GoToR`` and ``/GoToE`` (open another or an embedded file);
- automatic actions: any ``/AA`` (additional actions on open, close, page or field events) and an
  ``/OpenAction`` that is an action other than a plain ``/GoTo`` (a destination array, "open at
  page 1", is what LibreOffice and Word write, and is kept);
- embedded files: ``/Names/EmbeddedFiles``, ``/EF``, ``FileAttachment`` annotations;
- multimedia that runs players or scripts: ``RichMedia`` (Flash), ``3D``, ``Movie``, ``Sound``
  and ``Rendition`` / ``RichMediaExecute`` actions;
- XFA forms (``/XFA`` in the AcroForm; Acrobat runs their scripts).

``/URI`` links are kept: Word and WPS export every hyperlink as one, a notice without its links is
a worse document, a link runs nothing, and viewers ask before opening a browser. Only ``http``,
``https`` and ``mailto`` links (or relative ones such as ``www.example.cn``) are kept; ``file:``,
``javascript:``, a drive letter, a UNC path or any other scheme reaches local files or programs
and is refused.

Refusing, not stripping: the stored file stays the uploaded file byte for byte (its SHA-256 is
what the uploader's own copy hashes to, and a signed or sealed document keeps a valid signature),
and the uploader is told what to do (print or save again as a plain PDF).

Parser differences (a viewer reading objects qpdf does not) are closed from both sides: qpdf runs
without its recovery mode, so a file whose cross-reference table is broken (where qpdf and a
viewer would each guess their own way) is refused as damaged, and so is a file on which qpdf
reports any problem while reading an object (a syntax error, an object stream it could not
decode) — nothing can hide behind a parse error. Files are also served as downloads under a
sandboxing CSP (``storage.send_stored``), so a browser's viewer never runs anything.

A file that needs a password to open cannot be checked and is refused. A file encrypted with only
an owner password (print or copy restrictions, common for official documents) opens with the
empty user password — qpdf decrypts every object, so the check is complete — and is accepted.

Isolation: a few kilobytes of compressed, nested ``<<>>`` make qpdf build millions of objects
(gigabytes, seconds), and qpdf is C++. So the parse runs in a child process (this file run as a
script: ``python -I pdfcheck.py`` reads the PDF on stdin, answers one line of JSON) with its own
address-space and CPU limits and a wall-clock timeout; a child that runs out of memory or time, or
crashes, leaves the web process untouched and the file is refused. The child also caps the
objects in the cross-reference table (``MAX_OBJECTS``), the containers walked (``MAX_ITEMS``) and
each Flate stream qpdf decodes (``FLATE_MAX_MEMORY``). Nothing is decoded but the cross-reference
and object streams — page content and images never are — so a 10 MB scanned PDF takes the child's
start-up (about 0.1 s) plus milliseconds.

This module imports nothing from the application, so that the child starts fast.
"""
from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

#: more objects than any real 10 MB document holds (a 300-page scanned PDF has about 1,000)
MAX_OBJECTS = 200_000
#: dictionaries and arrays walked, direct ones inside objects included
MAX_ITEMS = 500_000
#: the largest single Flate stream qpdf decodes while reading the file's structure
FLATE_MAX_MEMORY = 64 * 1024 * 1024
#: the child's limits
CHILD_MEMORY = 1024 * 1024 * 1024
CHILD_CPU_SECONDS = 10
CHILD_TIMEOUT = 20

#: what was found -> how the message names it
LABELS = {
    "javascript": "JavaScript 脚本",
    "launch": "启动外部程序的动作",
    "auto_action": "打开文件或页面时自动执行的动作",
    "form_data": "提交或导入表单数据的动作",
    "remote": "打开其他文件的链接",
    "local_link": "指向本机文件或其他程序的链接",
    "embedded": "嵌入的附件文件",
    "multimedia": "Flash、3D 或音视频等多媒体内容",
    "xfa": "XFA 动态表单",
}

#: the value of an action's ``/S`` -> what it is
ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch",
    "/SubmitForm": "form_data",
    "/ImportData": "form_data",
    "/GoToR": "remote",
    "/GoToE": "remote",
    "/Rendition": "multimedia",
    "/Movie": "multimedia",
    "/Sound": "multimedia",
    "/RichMediaExecute": "multimedia",
}
#: a key whose mere presence says what the dictionary carries
KEYS = {
    "/JS": "javascript",
    "/JavaScript": "javascript",
    "/AA": "auto_action",
    "/EmbeddedFiles": "embedded",
    "/EF": "embedded",
    "/XFA": "xfa",
    "/RichMediaContent": "multimedia",
    "/RichMediaSettings": "multimedia",
    "/3DD": "multimedia",
}
#: annotation ``/Subtype`` -> what it is
SUBTYPES = {
    "/FileAttachment": "embedded",
    "/RichMedia": "multimedia",
    "/3D": "multimedia",
    "/Movie": "multimedia",
    "/Sound": "multimedia",
}
#: the keys that make a dictionary worth a closer look (most dictionaries have none of them)
_WATCHED = frozenset(KEYS) | {"/S", "/Subtype", "/OpenAction"}
LINK_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")

REFUSED_ACTIVE = "PDF 文件含有：{found}。出于安全原因不予接收，请另存为（或“打印”为）普通 PDF 后再上传。"
REFUSED_PASSWORD = "PDF 文件设有打开密码，无法检查其内容，不予接收。请取消密码后再上传。"
REFUSED_DAMAGED = ("PDF 文件已损坏或结构异常，无法检查其内容，不予接收。"
                   "请用原软件重新导出，或“打印”为 PDF 后再上传。")
REFUSED_COMPLEX = ("PDF 文件结构过于复杂，无法在限定的时间和内存内完成安全检查，不予接收。"
                   "请“打印”为 PDF 或压缩后再上传。")

#: qpdf warnings that repair nothing a viewer could disagree about (a page without /Resources
#: gets an empty one); any other warning means qpdf guessed, and the file is refused as damaged
_BENIGN_WARNING = re.compile(r"Resources is missing or invalid; repairing")

log = logging.getLogger(__name__)


class _TooComplex(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the parent: one child process per PDF


def problem(data: bytes) -> str | None:
    """Why the PDF in ``data`` is refused (a Chinese message for the uploader), or ``None``.

    The parse runs in a child process (see the module docstring); anything but a clear answer
    from it refuses the file.
    """
    try:
        done = subprocess.run([sys.executable, "-I", __file__], input=data, capture_output=True,
                              timeout=CHILD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        log.warning("PDF check timed out after %ss (%d bytes)", CHILD_TIMEOUT, len(data))
        return REFUSED_COMPLEX
    try:
        answer = json.loads(done.stdout.decode("utf-8"))
        verdict = answer["problem"]
        assert verdict is None or isinstance(verdict, str)
    except (ValueError, KeyError, TypeError, AssertionError):
        log.warning("PDF check gave no answer (exit %s, %d bytes): %s", done.returncode, len(data),
                    done.stderr.decode("utf-8", "replace")[-2000:])
        return REFUSED_COMPLEX
    return verdict


# ---------------------------------------------------------------------------------------------
# the child: the check itself


def check_in_process(data: bytes) -> str | None:
    """The check, in this process (the child's body; tests of the rules may call it directly)."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
            found = _findings(pdf)
            warnings = [w for w in pdf.get_warnings() if not _BENIGN_WARNING.search(w)]
    except pikepdf.PasswordError:
        return REFUSED_PASSWORD
    except (_TooComplex, MemoryError):
        return REFUSED_COMPLEX
    except Exception:  # noqa: BLE001 — qpdf's errors for a damaged file come in many types
        return REFUSED_DAMAGED
    if found:
        return REFUSED_ACTIVE.format(found="、".join(LABELS[k] for k in LABELS if k in found))
    if warnings:
        return REFUSED_DAMAGED
    return None


def _findings(pdf) -> set[str]:
    """What active content the file holds: every object in the cross-reference table (those
    inside object streams included) and the trailer, each with the direct objects inside it."""
    size = pdf.trailer.get("/Size")
    if not isinstance(size, int) or size > MAX_OBJECTS:  # bounds a cross-reference stream
        raise _TooComplex
    table = pdf.get_xref_table()
    if len(table) > MAX_OBJECTS:  # bounds a classic table
        raise _TooComplex
    found: set[str] = set()
    budget = [MAX_ITEMS]
    for objgen, entry in table.items():
        if entry.type in (1, 2):
            _walk(pdf.get_object(objgen), found, budget)
    _walk(pdf.trailer, found, budget)
    return found


def _walk(obj, found: set[str], budget: list[int]) -> None:
    """Check one object and every direct object inside it (indirect ones are checked on their own)."""
    from pikepdf import Array, Dictionary, Stream

    containers = (Dictionary, Stream, Array)
    stack = [obj]
    while stack:
        item = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooComplex
        if isinstance(item, (Dictionary, Stream)):
            keys = item.keys()
            if not keys:
                continue
            if not _WATCHED.isdisjoint(keys):
                _check_dictionary(item, keys, found)
            children = item.values()
        elif isinstance(item, Array):
            children = item
        else:
            continue
        for child in children:
            if isinstance(child, containers) and not child.is_indirect:
                stack.append(child)


def _check_dictionary(d, keys: set[str], found: set[str]) -> None:
    from pikepdf import Dictionary, Name, Stream

    for key in keys & KEYS.keys():
        found.add(KEYS[key])
    if "/S" in keys:
        action = d["/S"]
        if isinstance(action, Name):
            what = ACTIONS.get(str(action))
            if what:
                found.add(what)
            elif action == Name.URI and _link_is_local(d["/URI"] if "/URI" in keys else None):
                found.add("local_link")
    if "/Subtype" in keys:
        subtype = d["/Subtype"]
        if isinstance(subtype, Name) and str(subtype) in SUBTYPES:
            found.add(SUBTYPES[str(subtype)])
    if "/OpenAction" in keys:
        opening = d["/OpenAction"]
        if isinstance(opening, (Dictionary, Stream)) and not (
            "/S" in opening and opening["/S"] == Name.GoTo and "/Next" not in opening
        ):
            found.add("auto_action")


def _link_is_local(uri) -> bool:
    """Does a ``/URI`` action point anywhere but a web page or an e-mail address?"""
    from pikepdf import String

    if not isinstance(uri, String):
        return True  # not a string: no viewer agrees on what it means
    text = bytes(uri).decode("latin-1").strip()
    match = _SCHEME.match(text)
    if match:
        return match.group(1).lower() not in LINK_SCHEMES
    return text.startswith(("\\", "/"))  # a UNC or absolute path


def _child() -> None:
    """``python -I pdfcheck.py``: limit this process, read the PDF on stdin, answer on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))
    import pikepdf.settings

    pikepdf.settings.set_qpdf_limits(flate_max_memory=FLATE_MAX_MEMORY)
    data = sys.stdin.buffer.read()
    sys.stdout.write(json.dumps({"problem": check_in_process(data)}))
    sys.stdout.flush()


if __name__ == "__main__":
    _child()
