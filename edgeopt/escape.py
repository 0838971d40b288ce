"""Text from inputs (ONNX node names, profile names, `--name`) made safe for each kind of generated file it reaches:
one function per target, used by every generator. Comments and string literals never carry raw input; names that
become C symbols, file names and build targets are checked against what C, its standard headers, CMake and the
generated harnesses already use; CSV cells never start a spreadsheet formula."""

from __future__ import annotations

import html
import re

from edgeopt.errors import EdgeoptError

# C99/C11 keywords and the names of standard headers: a `<name>.h` beside the sources shadows `#include <name.h>`.
C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false alignas alignof noreturn static_assert thread_local""".split())
C_HEADERS = frozenset("""assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal
stdalign stdarg stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath threads time uchar wchar wctype
arm_acle arm_math cmsis_compiler""".split())
# Targets CMake and Make reserve, and what the generated harnesses and the board suite name themselves.
BUILD_NAMES = frozenset("""all clean help install test package package_source edit_cache rebuild_cache depend
list_install_components main arena input logits samples edgeopt""".split())
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,30}")
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9 _.,:;()\[\]=+\-#<>/]")


def c_name(name: str) -> str:
    """A name that prefixes C symbols, macros (in upper case), file names and a CMake target: lower case (so its
    upper case, the macros', is as unique as it is), at most 31 characters, not a C keyword, a standard header's
    name, a reserved build target or a name the harnesses use. Raises EdgeoptError saying which rule it breaks."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise EdgeoptError(f"{name!r} is not a C identifier edgeopt can name files with: lower-case letters, digits "
                           "and underscores, starting with a letter, at most 31 characters")
    if name in C_KEYWORDS or name in C_HEADERS or name in BUILD_NAMES or name.startswith("edgeopt_"):
        raise EdgeoptError(f"{name!r} is taken: it is a C keyword, a standard header's name (a {name}.h would "
                           "shadow it), a CMake/Make target or a name edgeopt's harnesses use; choose another")
    return name


def c_comment(text: object, limit: int = 120) -> str:
    """`text` as the inside of a C block comment: printable ASCII without '*', '\\' or quotes (so no `*/`, no line
    splice, no trigraph), cut to `limit` characters."""
    cleaned = _COMMENT_SAFE.sub("_", str(text))
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 3] + "..."


def c_string(text: object) -> str:
    """`text` as the inside of a C string literal: printable ASCII kept, '\\', '"', '?' and everything else as
    octal escapes (no trigraphs, no line splices)."""
    out = []
    for byte in str(text).encode("utf-8"):
        ch = chr(byte)
        out.append(ch if 32 <= byte < 127 and ch not in '\\"?' else f"\\{byte:03o}")
    return "".join(out)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell: a string starting a spreadsheet formula (= + - @, tab, CR) gets a leading apostrophe, as
    spreadsheets themselves mark text; numbers and other strings pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(cell: str) -> str:
    """What `csv_cell` wrote, read back."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def html_text(text: object) -> str:
    """`text` for an HTML page: escaped, quotes included."""
    return html.escape(str(text), quote=True)


def fill_template(template: str, name: str) -> str:
    """A C template with NAME and UPPER placeholders filled in one pass, so a name holding either word is not
    filled again."""
    return re.sub(r"UPPER|NAME", lambda m: name.upper() if m.group(0) == "UPPER" else name, template)
