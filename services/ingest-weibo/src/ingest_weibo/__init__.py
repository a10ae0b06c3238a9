"""ingest-weibo: everything about the Weibo fan-service platform (微博粉丝服务平台), in and out."""
