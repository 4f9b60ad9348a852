"""The limits the four providers share in kind, checked one way: each adapter states its own.

What is particular to one provider (JustCall's UCS-2 cap, CarrierX's US-only MMS, Skycore's
segments and sender mask) stays in that provider's module.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms.errors import Problem
from sms.message import SHORT_CODE, Message


@dataclass(frozen=True, slots=True)
class Limits:
    """One provider's limits on a message's sender, body, media, group and mask."""

    name: str  # as users know the provider: "JustCall"
    max_characters: int | None  # body length; None when the provider counts otherwise
    max_media: int  # 0: SMS only
    media_field: str  # the provider's name for the field, for messages about one URL
    max_group: int = 0  # 0: no group messages
    short_code_sender: bool = False
    sender_kind: str = "E.164"
    mask: bool = False
    #: How the provider names the text it requires when there is no media ("a body"); None when
    #: the adapter checks an empty body its own way.
    body_unless_media: str | None = None

    def problems(self, message: Message) -> list[Problem]:
        """Everything in `message` beyond these limits, each naming its field and the limit."""
        found: list[Problem] = []
        if not self.short_code_sender and SHORT_CODE.match(message.sender):
            found.append(
                Problem(
                    "from",
                    f"{message.sender} is a short code; {self.name} sends from {self.sender_kind}",
                )
            )
        if self.max_characters is not None and len(message.body) > self.max_characters:
            found.append(
                Problem(
                    "body",
                    f"{len(message.body):,} characters; {self.name} allows at most "
                    f"{self.max_characters:,}",
                )
            )
        if self.body_unless_media and not message.body and not message.media_urls:
            found.append(
                Problem(
                    "body",
                    f"empty and no media; {self.name} requires {self.body_unless_media} unless "
                    f"{self.media_field} is set",
                )
            )
        media = len(message.media_urls)
        if media > self.max_media:
            if self.max_media == 0:
                why = f"{self.name} sends SMS only here, no media"
            elif self.max_media == 1:
                why = f"{media} URLs; {self.name}'s {self.media_field} takes exactly one"
            else:
                why = f"{media} URLs; {self.name} allows at most {self.max_media}"
            found.append(Problem("media_urls", why))
        group = len(message.options.group_recipients)
        if group > self.max_group:
            why = (
                f"{self.name} has no group messages"
                if self.max_group == 0
                else f"{group} numbers; {self.name} allows at most {self.max_group}"
            )
            found.append(Problem("group_recipients", why))
        if not self.mask and message.options.from_mask:
            found.append(Problem("from_mask", f"{self.name} cannot mask the sender"))
        return found
