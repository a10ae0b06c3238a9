"""What can go wrong with a WeChat push; the HTTP layer maps each to its status code."""


class WeChatError(Exception):
    """Base of this channel's inbound errors."""


class BadSignature(WeChatError):
    """403: the request was not signed with this account's token."""


class MalformedPush(WeChatError, ValueError):
    """400: the body is not a WeChat message we can read."""
