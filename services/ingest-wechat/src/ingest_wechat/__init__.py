"""ingest-wechat: everything about the WeChat official-account platform, in and out."""
