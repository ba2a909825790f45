"""What may be written down: a URL without the credentials it may carry (user:password@)."""

from __future__ import annotations

import re

# The user-information part of every URL in a text: after `//`, up to the last `@` before the
# path, query or fragment begins. One pattern for one URL and for a comma list of them alike, a
# comma inside a password included.
_USERINFO = re.compile(r"//[^/?#]*@")


def redact_url(url: str) -> str:
    """A base URL (or several separated by commas) as it may be written down: user:password@ removed."""
    return _USERINFO.sub("//", url)
