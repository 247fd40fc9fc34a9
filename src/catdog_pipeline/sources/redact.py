"""Keep credentials out of everything shown or stored: messages, logs, cache metadata."""

import re

# scheme://userinfo@ : the userinfo (user, password or token) is what must never be shown.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")


def redact_url(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by `***`.

    `https://user:secret@host/x.zip` becomes `https://***@host/x.zip`; text without
    credentials is returned unchanged.
    """
    return _USERINFO.sub(r"\g<scheme>***@", str(text))
