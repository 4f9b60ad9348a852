"""Options every `salvo` command spells the same way: `--account` (and its old name),
`--lane`, and a choice refused in the words every door uses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from sms.message import Lane
from sms.validation import one_of

F = TypeVar("F", bound=Callable[..., Any])


def account_option(
    required: bool = True, help_text: str = "provider account name"
) -> Callable[[F], F]:
    """`--account NAME`, the account's name at every door; `--provider`, its old name, still
    works but is not shown."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def merged(*args: Any, account: str | None, provider_alias: str | None, **kw: Any) -> Any:
            account = account or provider_alias
            if account is None and required:
                raise click.MissingParameter(param_hint="'--account'", param_type="option")
            return command(*args, account=account, **kw)

        option = click.option("--provider", "provider_alias", hidden=True)(merged)
        # Not click's required=True, which would refuse --provider: the same mark in the help.
        shown = help_text + ("  [required]" if required else "")
        return cast(F, click.option("--account", "account", help=shown)(option))

    return decorate


class Choice(click.Choice[str]):
    """click's Choice, refusing a value in the words every door uses (sms.validation)."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return one_of(value, [str(choice) for choice in self.choices])


def lane_option(default: Lane, text: str) -> Callable[[F], F]:
    """`--lane`, one of the lanes, its default shown."""
    return click.option(
        "--lane",
        type=Choice([lane.value for lane in Lane]),
        default=default.value,
        show_default=True,
        help=text,
    )
